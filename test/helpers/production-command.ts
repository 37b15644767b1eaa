// How production starts the relay, read from package.json's `start` script: the one place its Node flags live.
// Test children and the benchmark start the relay exactly this way, so they exercise and measure the real artifact
// (dist/, built by `npm run build`, which `npm test` and `npm run bench` run first).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export const REPO = path.resolve(import.meta.dirname, '..', '..');
export const RELAY_ENTRY = 'dist/main.js';

export interface NodeCommand {
  /** Environment assignments written before `node` in the script (`NAME=value node …`). */
  env: Record<string, string>;
  /** Arguments for process.execPath: Node's flags, then the entry point. */
  args: string[];
}

/** Parses `[NAME=value …] node [flags …] dist/main.js` from a package.json script. */
export function parseStartScript(script: string): NodeCommand {
  const words = script.trim().split(/\s+/);
  const env: Record<string, string> = {};
  let i = 0;
  for (; i < words.length && /^[A-Z_][A-Z0-9_]*=/.test(words[i]!); i++) {
    const [name, ...value] = words[i]!.split('=');
    env[name!] = value.join('=');
  }
  if (words[i] !== 'node') throw new Error(`start script does not run node: ${script}`);
  const rest = words.slice(i + 1);
  const entry = rest.indexOf(RELAY_ENTRY);
  if (entry < 0 || entry !== rest.length - 1) throw new Error(`start script does not end with ${RELAY_ENTRY}: ${script}`);
  if (rest.slice(0, entry).some((flag) => !flag.startsWith('--')))
    throw new Error(`start script has something other than Node flags before ${RELAY_ENTRY}: ${script}`);
  return { env, args: rest };
}

export function productionCommand(): NodeCommand {
  const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  return parseStartScript(pkg.scripts.start!);
}

/** The arguments and extra environment that start the relay as `npm start` does, plus `relayArgs` (e.g. --role). */
export function relayCommand(...relayArgs: string[]): NodeCommand {
  assertBuildFresh();
  const { env, args } = productionCommand();
  return { env, args: [...args, ...relayArgs] };
}

let checked = false;
/** A child started from a dist/ older than src/ would test yesterday's code: refuse, and say what to run. */
export function assertBuildFresh(): void {
  if (checked) return;
  let built: number;
  try {
    built = statSync(path.join(REPO, RELAY_ENTRY)).mtimeMs;
  } catch {
    throw new Error(`${RELAY_ENTRY} is missing: run \`npm run build\` (npm test and npm run bench do it first)`);
  }
  const newest = newestMtime(path.join(REPO, 'src'));
  if (newest > built) throw new Error(`${RELAY_ENTRY} is older than src/: run \`npm run build\` (npm test and npm run bench do it first)`);
  checked = true;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }
  return newest;
}
