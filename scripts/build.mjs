// Bundles the TypeScript sources into dist/ so production runs plain JavaScript: no tsx loader thread
// (~40 MB of RSS) and no transpiling at start. Takes about a tenth of a second, so `npm start`, `npm test`
// and `npm run bench` rebuild every time and dist/ is never stale. esbuild only strips types:
// `npm run typecheck` is the type check.
import { build } from 'esbuild';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const outdir = path.join(root, 'dist');

// The generated Prisma client imports its query compiler's WebAssembly as a module of one base64 string, which then
// stays on the heap for good, twice (~4.6 MB of the API process's ~50 MB live heap). The bundle reads it from the file
// instead (src/db/query-compiler-wasm.ts). A generated client that no longer has this line stops the build.
const GENERATED_WASM_IMPORT =
  'const { wasm } = await import("@prisma/client/runtime/query_compiler_small_bg.postgresql.wasm-base64.mjs")';
const prismaWasmFromFile = {
  name: 'prisma-wasm-from-file',
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/]db[\\/]generated[\\/]internal[\\/]class\.ts$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      if (!source.includes(GENERATED_WASM_IMPORT)) throw new Error(`${args.path}: the query compiler import changed; see scripts/build.mjs`);
      const replacement = 'const wasm = await (await import("../../query-compiler-wasm.ts")).queryCompilerWasmBase64()';
      return { contents: source.replace(GENERATED_WASM_IMPORT, replacement), loader: 'ts', resolveDir: path.dirname(args.path) };
    });
  },
};

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
  plugins: [prismaWasmFromFile],
});

// The web pages (src/web/client): one bundle per page plus the style sheet, everything inlined (Preact, hash-wasm,
// qrcode, tus-js-client) so the pages work on a LAN with no internet. Fixed names: the relay serves them with
// no-cache, so a new build is seen at once.
await build({
  absWorkingDir: root,
  entryPoints: { phone: 'src/web/client/phone.tsx', admin: 'src/web/client/admin.tsx', style: 'src/web/client/style.css' },
  outdir: path.join(outdir, 'web'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome110', 'firefox115', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: true,
  sourcemap: true,
  logLevel: 'warning',
});
