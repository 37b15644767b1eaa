// Bundles the TypeScript sources into dist/ so production runs plain JavaScript: no tsx loader thread
// (~40 MB of RSS) and no transpiling at start. Takes about a tenth of a second, so `npm start`, `npm test`
// and `npm run bench` rebuild every time and dist/ is never stale. esbuild only strips types:
// `npm run typecheck` is the type check.
import { build } from 'esbuild';
import { rm } from 'node:fs/promises';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const outdir = path.join(root, 'dist');

await rm(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: ['src/main.ts', 'src/cli/main.ts', 'src/emulator/main.ts', 'src/db/migrate-cli.ts'],
  outdir,
  outbase: 'src',
  bundle: true,
  // Roles load their own side with import(): splitting keeps those lazy in the bundle too.
  splitting: true,
  format: 'esm',
  platform: 'node',
  // The oldest Node package.json's engines accepts.
  target: 'node24',
  // Dependencies stay in node_modules, loaded by Node as published.
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});
