import { mkdir, rm } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writePhotoSet, type MediaFile } from '../lib/media-files.ts';
import { pool, uploadMultipart } from '../lib/multipart.ts';
import { RssSampler } from '../lib/proc.ts';
import { Cleanup, summarizeLogLine, waitBackedUp } from '../lib/relay.ts';
import {
  control,
  emulatorStats,
  forwardingRig,
  libraryItems,
  photosRequests,
  requestDiff,
  setForwarding,
  startIdleWorker,
  totalOf,
  waitQueueDrained,
  type ForwardingRig,
} from '../lib/forwarding.ts';
import { mb, ratio, secs, verdict, type BenchContext, type PartResult, type Row } from '../lib/report.ts';

const MIN = 20 * 1024;
const MAX = 200 * 1024;
const SEED = 4242;
const COLD = 8;
const REQUESTS_PER_ITEM_GOAL = 1.03;
const WORKER_RSS_GOAL = 150e6;
/** Per Google call, and how many times the fixed-4 client's rate the adaptive one must reach there. */
const LATENCIES: { ms: number; speedup: number }[] = [
  { ms: 100, speedup: 3 },
  { ms: 500, speedup: 1 },
];

/** The comparison client: the same code with the window fixed at the relay's old concurrency. */
const FIXED_4 = { FORWARD_MAX_CONCURRENCY: '4', FORWARD_ADAPTIVE_CONCURRENCY: 'false' };
const ADAPTIVE = { FORWARD_MAX_CONCURRENCY: '16', FORWARD_ADAPTIVE_CONCURRENCY: 'true' };
type Mode = 'fixed-4' | 'adaptive';
const ENV: Record<Mode, Record<string, string>> = { 'fixed-4': FIXED_4, adaptive: ADAPTIVE };

interface Run {
  mode: Mode;
  latencyMs: number;
  seconds: number;
  itemsPerSecond: number;
  requests: number;
  requestsPerItem: number;
  batchCreates: number;
  workerPeakRssBytes: number;
  workerCpuSeconds: number;
  longestStallSeconds: number;
  warnings: string[];
}

async function uploadSet(rig: ForwardingRig, files: MediaFile[], prefix: string): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  await pool(files, 8, async (file, i) => {
    const r = await uploadMultipart(`${rig.api.url}/api/v1/assets`, file, {
      agent,
      token: rig.device.token,
      fields: { deviceAssetId: `${prefix}-${i}` },
    });
    if (r.status !== 201) throw new Error(`upload ${prefix}-${i}: ${r.status} ${JSON.stringify(r.body)}`);
  });
  agent.destroy();
}

/** CPU seconds (user + system) a process has used, from /proc. */
async function cpuSecondsOf(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 Hz)
}

/**
 * One burst: the photos wait in the ledger (forwarding paused), a fresh worker of the given mode starts idle, and the
 * clock runs from resuming forwarding until the last is backed up.
 */
async function burst(
  ctx: BenchContext,
  rig: ForwardingRig,
  cleanup: Cleanup,
  files: MediaFile[],
  mode: Mode,
  latencyMs: number,
  expectedTotal: number,
): Promise<Run> {
  await setForwarding(rig.admin, rig.accountId, 'paused');
  await uploadSet(rig, files, `${mode}-${latencyMs}`);
  const { worker } = await startIdleWorker(rig, cleanup, ENV[mode]);
  try {
    await waitQueueDrained(rig, worker);
    await control(rig.emulator.url, 'PATCH', '/emulator/config', { latencyMs });
    await sleep(500);
    const before = await emulatorStats(rig);
    const cpuBefore = await cpuSecondsOf(worker.child.pid);
    const sampler = new RssSampler(worker.child.pid).start({ resetPeak: true });
    const started = performance.now();
    await setForwarding(rig.admin, rig.accountId, 'active');
    const { longestStallSeconds } = await waitBackedUp(rig.db, expectedTotal, 30 * 60_000, (s) => ctx.log(`  … ${JSON.stringify(s)}`));
    const seconds = (performance.now() - started) / 1000;
    const rss = sampler.stop();
    const workerCpuSeconds = (await cpuSecondsOf(worker.child.pid)) - cpuBefore;
    const diff = requestDiff(before, await emulatorStats(rig));
    const requests = photosRequests(diff);
    const run: Run = {
      mode,
      latencyMs,
      seconds,
      itemsPerSecond: files.length / seconds,
      requests,
      requestsPerItem: requests / files.length,
      batchCreates: totalOf(diff, 'batchCreate'),
      workerPeakRssBytes: Math.max(rss.max, rss.hwm),
      workerCpuSeconds,
      longestStallSeconds,
      warnings: worker.child.warnings(),
    };
    ctx.log(
      `  ${mode} @ ${latencyMs} ms: ${files.length} items in ${secs(seconds)} = ${run.itemsPerSecond.toFixed(1)} items/s; ` +
        `${requests} requests (${run.requestsPerItem.toFixed(3)}/item, ${run.batchCreates} batchCreate); worker ${run.workerCpuSeconds.toFixed(1)} s CPU, peak RSS ${mb(run.workerPeakRssBytes)}`,
    );
    return run;
  } finally {
    await worker.child.stop();
  }
}

/**
 * (e) Forwarding a burst (a phone back from a trip) at 100 and 500 ms per Google call: the adaptive window against a
 * fixed-4 client of the same code, each on a fresh worker, in alternating order, in one run. Also: a fresh worker's
 * cold start, Google requests per item, one batchCreate at a time per account, each photo in the library once, and
 * the worker's peak RSS at its highest concurrency.
 */
export async function forwarding(ctx: BenchContext): Promise<PartResult> {
  const count = ctx.quick ? 100 : 200;
  const cleanup = new Cleanup();
  try {
    const rig = await forwardingRig('Bench E', cleanup);
    const dir = path.join(ctx.dataDir, 'photos-e');
    await mkdir(dir, { recursive: true });
    cleanup.add('remove photos', () => rm(dir, { recursive: true, force: true }));
    const coldFiles = await writePhotoSet(dir, COLD, MIN, MAX, SEED + 1, 'COLD_');
    const sets: MediaFile[][] = [];
    for (let i = 0; i < LATENCIES.length * 2; i++) sets.push(await writePhotoSet(dir, count, MIN, MAX, SEED + 10 + i, `E${i}_`));

    // Cold start: a fresh (adaptive) worker, COLD photos, forwarding resumed at once.
    await uploadSet(rig, coldFiles, 'cold');
    const { worker: coldWorker } = await startIdleWorker(rig, cleanup, ADAPTIVE);
    await control(rig.emulator.url, 'PATCH', '/emulator/config', { latencyMs: 100 });
    const coldStarted = performance.now();
    await setForwarding(rig.admin, rig.accountId, 'active');
    const cold = await waitBackedUp(rig.db, COLD, 10 * 60_000, (s) => ctx.log(`  … cold start ${JSON.stringify(s)}`));
    const coldSeconds = (performance.now() - coldStarted) / 1000;
    const coldErrors = coldWorker.child.warnings();
    await coldWorker.child.stop();
    ctx.log(`cold start: a fresh worker forwarded ${COLD} photos in ${secs(coldSeconds)} (${coldErrors.length} error line(s) logged)`);

    const runs: Run[] = [];
    let total = COLD;
    let set = 0;
    for (const [i, { ms }] of LATENCIES.entries()) {
      const order: Mode[] = i % 2 === 0 ? ['fixed-4', 'adaptive'] : ['adaptive', 'fixed-4'];
      for (const mode of order) {
        total += count;
        runs.push(await burst(ctx, rig, cleanup, sets[set++]!, mode, ms, total));
      }
    }

    const s = await emulatorStats(rig);
    const items = await libraryItems(rig);
    const uploaded = new Set([...coldFiles, ...sets.flat()].map((f) => f.sha256));
    const inLibrary = new Set(items.map((it) => it.sha256));
    const duplicates = items.length - inLibrary.size;
    const missing = [...uploaded].filter((h) => !inLibrary.has(h)).length;
    const exactlyOnce = duplicates === 0 && missing === 0 && items.length === total;
    const overlaps = s.batchCreate?.overlaps ?? 0;

    const notes: string[] = [];
    if (coldErrors.length) notes.push(`cold start logged ${coldErrors.length} error(s): ${summarizeLogLine(coldErrors[0]!)}`);
    for (const r of runs) {
      if (r.warnings.length) notes.push(`${r.mode} @ ${r.latencyMs} ms: the worker logged ${r.warnings.length} warning/error line(s), e.g. ${summarizeLogLine(r.warnings[0]!)}`);
      if (r.longestStallSeconds > 10) notes.push(`${r.mode} @ ${r.latencyMs} ms: no delivery backed up for ${secs(r.longestStallSeconds)} at a stretch`);
    }
    if (!exactlyOnce) notes.push(`library holds ${items.length} items for ${total} photos: ${duplicates} duplicates, ${missing} missing`);

    const rows: Row[] = [
      {
        part: 'e',
        measure: `cold start: fresh worker forwards ${COLD} photos`,
        relay: `${secs(coldSeconds)}, ${coldErrors.length} error(s)`,
        baseline: '',
        ratio: '',
        target: 'no errors',
        verdict: verdict(coldErrors.length === 0),
      },
    ];
    const adaptiveRuns = runs.filter((r) => r.mode === 'adaptive');
    for (const { ms, speedup } of LATENCIES) {
      const a = runs.find((r) => r.mode === 'adaptive' && r.latencyMs === ms)!;
      const f = runs.find((r) => r.mode === 'fixed-4' && r.latencyMs === ms)!;
      const x = a.itemsPerSecond / f.itemsPerSecond;
      rows.push({
        part: 'e',
        measure: `burst of ${count} photos at ${ms} ms/call: items/s, adaptive vs fixed-4`,
        relay: a.itemsPerSecond.toFixed(1),
        baseline: f.itemsPerSecond.toFixed(1),
        ratio: ratio(x),
        target: `≥ ${speedup}×`,
        verdict: verdict(x >= speedup),
      });
    }
    const worstPerItem = Math.max(...adaptiveRuns.map((r) => r.requestsPerItem));
    const peakRss = Math.max(...adaptiveRuns.map((r) => r.workerPeakRssBytes));
    rows.push(
      {
        part: 'e',
        measure: `Google requests per item (adaptive, worst of ${LATENCIES.map((l) => `${l.ms} ms`).join(' and ')})`,
        relay: worstPerItem.toFixed(3),
        baseline: Math.max(...runs.filter((r) => r.mode === 'fixed-4').map((r) => r.requestsPerItem)).toFixed(3),
        ratio: '',
        target: `≤ ${REQUESTS_PER_ITEM_GOAL}`,
        verdict: verdict(worstPerItem <= REQUESTS_PER_ITEM_GOAL),
      },
      {
        part: 'e',
        measure: 'batchCreate calls of one account overlapping',
        relay: String(overlaps),
        baseline: '',
        ratio: '',
        target: '0',
        verdict: verdict(overlaps === 0),
      },
      {
        part: 'e',
        measure: 'each photo in the library exactly once',
        relay: `${items.length} items, ${inLibrary.size} distinct`,
        baseline: '',
        ratio: '',
        target: `${total}, ${total}`,
        verdict: verdict(exactlyOnce),
      },
      {
        part: 'e',
        measure: 'worker peak RSS at its highest concurrency (adaptive, ceiling 16)',
        relay: mb(peakRss),
        baseline: '',
        ratio: '',
        target: `≤ ${mb(WORKER_RSS_GOAL, 0)}`,
        verdict: verdict(peakRss <= WORKER_RSS_GOAL),
      },
    );
    return {
      id: 'e',
      title: `forwarding bursts of ${count} photos at ${LATENCIES.map((l) => `${l.ms}`).join(' and ')} ms per Google call, adaptive vs fixed-4`,
      seconds: 0,
      notes,
      rows,
      data: {
        items: count,
        coldStart: { photos: COLD, seconds: coldSeconds, longestStallSeconds: cold.longestStallSeconds, errorLines: coldErrors.length },
        runs: runs.map(({ warnings, ...r }) => ({ ...r, warningLines: warnings.length })),
        batchCreateOverlaps: overlaps,
        libraryItems: items.length,
        libraryDistinct: inLibrary.size,
      },
    };
  } finally {
    await cleanup.run();
  }
}
