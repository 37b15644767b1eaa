import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

// The package's module holding Prisma's query compiler (WebAssembly) as one base64 string literal.
const WASM_MODULE = '@prisma/client/runtime/query_compiler_small_bg.postgresql.wasm-base64.mjs';

/**
 * The query compiler's bytes in base64, read from that module's file as text instead of imported: an imported module
 * stays in Node's module map for good, with its source and its string literal (2.3 MB each) on the heap. Read, the
 * text is garbage once the WebAssembly module is compiled. The build (scripts/build.mjs) points the generated client
 * here; tests, run from src/ through tsx, import the module as generated.
 */
export async function queryCompilerWasmBase64(): Promise<string> {
  const source = await readFile(fileURLToPath(import.meta.resolve(WASM_MODULE)), 'utf8');
  const literal = /^const wasm = "([A-Za-z0-9+/=]+)";?$/m.exec(source);
  if (!literal) throw new Error(`${WASM_MODULE} no longer holds \`const wasm = "<base64>"\`: update src/db/query-compiler-wasm.ts`);
  return literal[1]!;
}
