/**
 * Photo Relay benchmarks: every figure printed is measured in this run, against a baseline measured in the same
 * run where one applies. See bench/README.md.
 *
 *   npm run bench                    full run (~5–20 min)
 *   npm run bench -- --quick         everything scaled down (~2 min)
 *   npm run bench -- --only a,c      some parts only
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeMachine } from './lib/machine.ts';
import { killAllChildren, REPO } from './lib/proc.ts';
import { dropAllIsolations } from './lib/relay.ts';
import { markdownTable, mb, textTable, type BenchContext, type PartResult, type Row } from './lib/report.ts';
import { largeUpload } from './parts/a-large-upload.ts';
import { uploadRss } from './parts/b-upload-rss.ts';
import { photos } from './parts/c-photos.ts';
import { check } from './parts/d-check.ts';
import { forwarding } from './parts/e-forwarding.ts';
import { forwardRss } from './parts/f-forward-rss.ts';
import { resumableUpload } from './parts/g-resumable-upload.ts';

const PARTS: Record<string, { title: string; run: (ctx: BenchContext) => Promise<PartResult> }> = {
  a: { title: 'large multipart upload: relay vs hash+fsync baseline', run: largeUpload },
  b: { title: 'relay RSS during a very large upload', run: uploadRss },
  c: { title: 'many photos, 8 connections: relay vs hash+fsync+INSERT baseline', run: photos },
  d: { title: 'POST /api/v1/assets/check of held hashes', run: check },
  e: { title: 'forwarding throughput and Google requests per item', run: forwarding },
  f: { title: 'worker RSS forwarding a very large video (resumable)', run: forwardRss },
  g: { title: 'large resumable upload (tus): one PATCH and 8 MiB PATCHes vs hash+fsync baseline; RSS', run: resumableUpload },
};

const USAGE = `usage: npm run bench -- [--quick] [--only a,b,c,d,e,f,g]
  --quick   scaled down: 64 MiB upload, 64/256 MiB RSS uploads, 200 photos, 1000 hashes, 100 forwarded, 256 MiB video
  --only    comma-separated parts (default: all)
${Object.entries(PARTS)
  .map(([id, p]) => `    ${id}  ${p.title}`)
  .join('\n')}`;

function parseArgs(argv: string[]): { quick: boolean; only: string[] } {
  let quick = false;
  let only = Object.keys(PARTS);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') quick = true;
    else if (a === '--only' || a.startsWith('--only=')) {
      const value = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      only = (value ?? '')
        .split(',')
        .map((s) => s.trim().toLowerCase())
        .filter(Boolean);
      const unknown = only.filter((p) => !(p in PARTS));
      if (!only.length || unknown.length) {
        console.error(`unknown part(s): ${unknown.join(', ') || '(none given)'}\n${USAGE}`);
        process.exit(2);
      }
    } else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else {
      console.error(`unknown argument ${a}\n${USAGE}`);
      process.exit(2);
    }
  }
  return { quick, only: Object.keys(PARTS).filter((p) => only.includes(p)) };
}

const args = process.argv.slice(2);
const { quick, only } = parseArgs(args);
const command =
  process.env.npm_lifecycle_event === 'bench'
    ? `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`
    : `node ${[...process.execArgv, ...process.argv.slice(1).map((a) => path.relative(process.cwd(), a) || a)].join(' ')}`;
const nodeCommand = [process.execPath, ...process.execArgv, ...process.argv.slice(1)].join(' ');

const dataDir = await mkdtemp(path.join(os.tmpdir(), 'photo-relay-bench-'));
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\n${signal}: stopping children, dropping isolated databases, removing ${dataDir}`);
    killAllChildren();
    void dropAllIsolations().finally(() => {
      rmSync(dataDir, { recursive: true, force: true });
      process.exit(130);
    });
  });
}

// The figures are this Node's; the project's is package.json's `engines` (the Docker image's, CI's). Memory differs
// between the two: on Node 24 every relay process was ~15–25 MB larger than on Node 20 (its own code resident in
// memory, a larger V8 heap).
const engines = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { engines?: { node?: string } }).engines?.node;
const enginesMajor = Number(/\d+/.exec(engines ?? '')?.[0] ?? 0);
const runtimeNote =
  Number(process.versions.node.split('.')[0]) < enginesMajor
    ? `note: the project runs on Node ${engines} (package.json engines), where each relay process measured ~15–25 MB more memory than on Node 20`
    : '';

const started = new Date();
const machine = await describeMachine(os.tmpdir());
const header = [
  `Photo Relay benchmark — ${quick ? 'QUICK (scaled down)' : 'full'} run, parts ${only.join(',')}`,
  `command:  ${command}`,
  `          (${nodeCommand})`,
  `machine:  ${machine.cpu}, ${machine.cores} cores, ${(machine.ramBytes / 2 ** 30).toFixed(1)} GiB RAM, ${machine.os}`,
  `software: Node ${machine.node}, PostgreSQL ${machine.postgres}, Redis ${machine.redis}, relay ${machine.git}`,
  ...(runtimeNote ? [`          ${runtimeNote}`] : []),
  `disk:     ${mb(machine.diskFreeBytes, 0)} free on ${machine.diskPath} (generated files and spools live there)`,
  `load:     ${machine.loadAverage.join(' ')} (1/5/15 min) at start`,
  ...(machine.freePageReporting
    ? ['memory:   a virtio balloon hands freed memory back to the host: large writes are slower into memory it took back (bench/README.md, "Fresh memory")']
    : []),
  `started:  ${started.toISOString()}`,
  `units:    MB = 10^6 bytes, MiB/GiB = 2^20/2^30 bytes; relay/baseline = the relay's figure ÷ the baseline's on the same row`,
  `          (time, latency: > 1× = relay slower; uploads/s, MB/s: < 1× = relay slower)`,
];
console.log(header.join('\n'));

const results: Record<string, PartResult & { error?: string }> = {};
for (const id of only) {
  const part = PARTS[id]!;
  console.log(`\n── (${id}) ${part.title}   [load ${os.loadavg()[0]!.toFixed(2)}]`);
  const t0 = performance.now();
  const ctx: BenchContext = { quick, dataDir, log: (line) => console.log(`  ${line}`) };
  try {
    const result = await part.run(ctx);
    result.seconds = (performance.now() - t0) / 1000;
    results[id] = result;
    for (const note of result.notes) console.log(`  ! ${note}`);
    console.log(`  (${result.seconds.toFixed(1)} s)`);
  } catch (err) {
    const message = (err as Error).stack ?? String(err);
    console.error(`  ✗ part ${id} failed: ${message}`);
    results[id] = {
      id,
      title: part.title,
      seconds: (performance.now() - t0) / 1000,
      rows: [{ part: id, measure: part.title, relay: 'ERROR', baseline: '', ratio: '', target: '', verdict: 'FAIL' }],
      data: {},
      notes: [(err as Error).message],
      error: message,
    };
  }
  (globalThis as { gc?: () => void }).gc?.();
}
await rm(dataDir, { recursive: true, force: true });

const finished = new Date();
const rows: Row[] = only.flatMap((id) => results[id]!.rows);
const loadAfter = os.loadavg().map((l) => Math.round(l * 100) / 100);
console.log(
  `\n══ Summary (${quick ? 'quick' : 'full'} run, ${((finished.getTime() - started.getTime()) / 1000).toFixed(0)} s, load ${loadAfter.join(' ')} at end)\n`,
);
console.log(textTable(rows));
const notes = only.flatMap((id) => results[id]!.notes.map((n) => `(${id}) ${n}`));
if (notes.length) console.log(`\nLooked wrong:\n${notes.map((n) => `  - ${n}`).join('\n')}`);

const resultsDir = path.join(import.meta.dirname, 'results');
await mkdir(resultsDir, { recursive: true });
const json = {
  command,
  nodeCommand,
  mode: quick ? 'quick' : 'full',
  parts: only,
  startedAt: started.toISOString(),
  finishedAt: finished.toISOString(),
  durationSeconds: (finished.getTime() - started.getTime()) / 1000,
  machine,
  loadAverageAtEnd: loadAfter,
  summary: rows,
  results,
};
// Written as the repository's formatter would (when it is installed), so `npm run format` leaves them alone.
async function formatted(text: string, parser: 'json' | 'markdown'): Promise<string> {
  try {
    const prettier = await import('prettier');
    const options = (await prettier.resolveConfig(resultsDir)) ?? {};
    return await prettier.format(text, { ...options, parser });
  } catch {
    return text;
  }
}
await writeFile(path.join(resultsDir, 'latest.json'), await formatted(`${JSON.stringify(json, null, 2)}\n`, 'json'));
const md = [
  `<!-- generated by \`${command}\` on ${finished.toISOString()} -->`,
  `Measured by \`${command}\` (${quick ? 'quick, scaled-down' : 'full'} run) on ${machine.cpu}, ${machine.cores} cores, ${(machine.ramBytes / 2 ** 30).toFixed(1)} GiB RAM${machine.freePageReporting ? ' (a VM whose balloon hands freed memory back to its host)' : ''}, Node ${machine.node}, PostgreSQL ${machine.postgres}, Redis ${machine.redis}${runtimeNote ? ` (${runtimeNote})` : ''}; relay ${machine.git}; load average ${machine.loadAverage[0]} at start, ${loadAfter[0]} at end. MB = 10^6 bytes. relay/baseline is the relay's figure divided by the baseline's on the same row: for times and latencies > 1× means the relay is slower, for uploads/s and MB/s < 1× does.`,
  '',
  markdownTable(rows),
  ...(notes.length ? ['', 'Looked wrong in this run:', '', ...notes.map((n) => `- ${n}`)] : []),
  '',
].join('\n');
await writeFile(path.join(resultsDir, 'latest.md'), await formatted(md, 'markdown'));
console.log(
  `\nwrote ${path.relative(process.cwd(), path.join(resultsDir, 'latest.json'))} and ${path.relative(process.cwd(), path.join(resultsDir, 'latest.md'))}`,
);

const errored = only.filter((id) => results[id]!.error);
const missed = rows.filter((r) => r.verdict === 'FAIL').length;
if (errored.length) console.log(`parts that failed to run: ${errored.join(', ')}`);
if (missed) console.log(`${missed} target(s) missed`);
process.exit(errored.length || missed ? 1 : 0);
