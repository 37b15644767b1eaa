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

// Loaded from node_modules as published: packages that read files next to themselves (templates, static assets,
// WebAssembly, native addons, pino's worker scripts), packages that other kept packages load too (one copy, not two),
// what only the CLI or a rare admin page needs, and pg, whose bundled copy fails to connect.
const KEEP_PUBLISHED = [
  '@prisma/*',
  'pg',
  'pg-*',
  'pino',
  'pino-*',
  '@bull-board/*',
  '@fastify/static',
  '@fastify/swagger-ui',
  'msgpackr-extract',
  '@msgpackr-extract/*',
  'google-auth-library',
  'commander',
  'cli-progress',
  'qrcode',
  'qrcode-terminal',
];

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
  // Dependencies are bundled too, without comments and indentation (names are kept, so stack traces still read): a
  // module's source stays on the heap for the life of the process, and ~900 modules as published (license headers,
  // doc comments, one module each) were ~9 MB of the API process's RSS, which is held to 150 MB (bench c).
  external: KEEP_PUBLISHED,
  minifyWhitespace: true,
  minifySyntax: true,
  // Bundled CommonJS modules call require() for Node's own modules and for the packages kept in node_modules.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  // `node --enable-source-maps` maps stack traces back to src/ and node_modules/.
  sourcemap: true,
  sourcesContent: false,
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
