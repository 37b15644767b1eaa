// `prisma generate` only needs the query compiler (WebAssembly, shipped in the package), but the CLI insists on
// finding a schema-engine binary it cannot download here. Point it at any existing file when none is configured.
import { spawnSync } from 'node:child_process';

const env = { ...process.env };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= process.execPath;
env.PRISMA_HIDE_UPDATE_MESSAGE = '1';
const result = spawnSync('npx', ['prisma', 'generate'], { stdio: 'inherit', env });
process.exit(result.status ?? 1);
