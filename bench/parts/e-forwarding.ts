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
import { mb, secs, verdict, type BenchContext, type PartResult } from '../lib/report.ts';

const LATENCY_MS = 100;
const MIN = 20 * 1024;
const MAX = 200 * 1024;
const SEED = 4242;
const COLD = 8;
const REQUESTS_PER_ITEM_GOAL = 1.03;

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

/**
 * (e) Forwarding throughput and Google request economy with 100 ms per Google call. A fresh worker first forwards
 * a few photos (its cold start, reported on its own); the timed run then measures the steady state.
 */
export async function forwarding(ctx: BenchContext): Promise<PartResult> {
  const count = ctx.quick ? 100 : 1000;
  const cleanup = new Cleanup();
  try {
    const rig = await forwardingRig('Bench E', cleanup);
    const dir = path.join(ctx.dataDir, 'photos-e');
    await mkdir(dir, { recursive: true });
    cleanup.add('remove photos', () => rm(dir, { recursive: true, force: true }));
    const coldFiles = await writePhotoSet(dir, COLD, MIN, MAX, SEED + 1, 'COLD_');
    const files = await writePhotoSet(dir, count, MIN, MAX, SEED);
    const total = files.reduce((s, f) => s + f.size, 0);

    // Cold start: a fresh worker, COLD photos, forwarding resumed at once.
    await uploadSet(rig, coldFiles, 'cold');
    const { worker, idleRss } = await startIdleWorker(rig, cleanup);
    await control(rig.emulator.url, 'PATCH', '/emulator/config', { latencyMs: LATENCY_MS });
    const coldStarted = performance.now();
    await setForwarding(rig.admin, rig.accountId, 'active');
    const cold = await waitBackedUp(rig.db, COLD, 10 * 60_000, (s) => ctx.log(`  … cold start ${JSON.stringify(s)}`));
    const coldSeconds = (performance.now() - coldStarted) / 1000;
    const coldErrors = worker.child.warnings().length;
    ctx.log(`cold start: a fresh worker forwarded ${COLD} photos in ${secs(coldSeconds)} (${coldErrors} error line(s) logged)`);
    await setForwarding(rig.admin, rig.accountId, 'paused');

    ctx.log(`uploading ${count} photos (${mb(total)}) with forwarding paused`);
    await uploadSet(rig, files, 'e');
    await waitQueueDrained(rig, worker);
    await sleep(1000);
    const before = await emulatorStats(rig);
    ctx.log(`resuming forwarding (emulator latency ${LATENCY_MS} ms)`);

    const sampler = new RssSampler(worker.child.pid).start({ resetPeak: true });
    const started = performance.now();
    await setForwarding(rig.admin, rig.accountId, 'active');
    const { states, longestStallSeconds } = await waitBackedUp(rig.db, COLD + count, 30 * 60_000, (s) =>
      ctx.log(`  … ${JSON.stringify(s)}`),
    );
    const seconds = (performance.now() - started) / 1000;
    const rss = sampler.stop();
    const after = await emulatorStats(rig);

    const diff = requestDiff(before, after);
    const requests = photosRequests(diff);
    const batchCreates = totalOf(diff, 'batchCreate');
    const perItem = requests / count;
    const items = await libraryItems(rig);
    const uploaded = new Set([...coldFiles, ...files].map((f) => f.sha256));
    const inLibrary = new Set(items.map((i) => i.sha256));
    const duplicates = items.length - inLibrary.size;
    const missing = [...uploaded].filter((h) => !inLibrary.has(h)).length;
    const { body: deviceView } = await rig.device.call('GET', '/api/v1/device');
    ctx.log(
      `${count} items in ${secs(seconds)}: ${(count / seconds).toFixed(1)} items/s; ${requests} Photos API requests (${perItem.toFixed(3)}/item), ${batchCreates} batchCreate; worker peak RSS ${mb(Math.max(rss.max, rss.hwm))}`,
    );

    const notes: string[] = [];
    const workerLines = worker.child.warnings();
    if (coldErrors > 0) {
      notes.push(
        `cold start: a fresh worker took ${secs(coldSeconds)} to forward ${COLD} photos (longest stall ${secs(cold.longestStallSeconds)}) and logged ${coldErrors} error(s): ${summarizeLogLine(workerLines[0]!)}`,
      );
    }
    if (longestStallSeconds > 10)
      notes.push(
        `forwarding stalled: no delivery was backed up for ${secs(longestStallSeconds)} at a stretch (of ${secs(seconds)} in all)`,
      );
    if (perItem > REQUESTS_PER_ITEM_GOAL) {
      notes.push(
        `${perItem.toFixed(3)} Google requests per item (goal ≤ ${REQUESTS_PER_ITEM_GOAL}): ${batchCreates} batchCreate calls for ${count} items ` +
          `(${(count / batchCreates).toFixed(1)} items per call, 50 possible); requests by endpoint: ${JSON.stringify(diff)}`,
      );
    }
    const expected = COLD + count;
    if (duplicates || missing || items.length !== expected)
      notes.push(`library holds ${items.length} items for ${expected} photos: ${duplicates} duplicates, ${missing} missing`);
    if (deviceView?.counts?.backedUp !== expected) notes.push(`GET /api/v1/device counts: ${JSON.stringify(deviceView?.counts)}`);
    const logged: Record<string, string[]> = {};
    for (const child of [rig.api.child, worker.child]) {
      const w = child.warnings();
      logged[child.name] = w.slice(0, 10);
      const later = child === worker.child ? w.slice(coldErrors) : w;
      if (later.length)
        notes.push(`${child.name} logged ${later.length} warning/error line(s) in the timed run, e.g. ${summarizeLogLine(later[0]!)}`);
    }
    const exactlyOnce = duplicates === 0 && missing === 0 && items.length === expected;
    return {
      id: 'e',
      title: `forwarding ${count} photos at ${LATENCY_MS} ms per Google call`,
      seconds: 0,
      notes,
      rows: [
        {
          part: 'e',
          measure: `cold start: fresh worker forwards ${COLD} photos`,
          relay: `${secs(coldSeconds)}, ${coldErrors} error(s)`,
          baseline: '',
          ratio: '',
          target: 'no errors',
          verdict: verdict(coldErrors === 0),
        },
        {
          part: 'e',
          measure: `forward ${count} photos (${LATENCY_MS} ms/call): items/s`,
          relay: (count / seconds).toFixed(1),
          baseline: '',
          ratio: '',
          target: '',
          verdict: '',
        },
        {
          part: 'e',
          measure: `Google requests per item (${requests} / ${count})`,
          relay: perItem.toFixed(3),
          baseline: '',
          ratio: '',
          target: `≤ ${REQUESTS_PER_ITEM_GOAL}`,
          verdict: verdict(perItem <= REQUESTS_PER_ITEM_GOAL),
        },
        {
          part: 'e',
          measure: `batchCreate calls (items per call)`,
          relay: `${batchCreates} (${(count / Math.max(1, batchCreates)).toFixed(1)})`,
          baseline: '',
          ratio: '',
          target: `≥ ${Math.ceil(count / 50)} (50 per call)`,
          verdict: '',
        },
        {
          part: 'e',
          measure: `each photo in the library exactly once`,
          relay: `${items.length} items, ${inLibrary.size} distinct`,
          baseline: '',
          ratio: '',
          target: `${expected}, ${expected}`,
          verdict: verdict(exactlyOnce),
        },
      ],
      data: {
        items: count,
        bytes: total,
        latencyMs: LATENCY_MS,
        coldStart: { photos: COLD, seconds: coldSeconds, longestStallSeconds: cold.longestStallSeconds, errorLines: coldErrors },
        seconds,
        itemsPerSecond: count / seconds,
        photosApiRequests: requests,
        requestsPerItem: perItem,
        batchCreateCalls: batchCreates,
        requestsByEndpoint: diff,
        batchCreateOverlaps: after.batchCreate?.overlaps,
        finalStates: states,
        longestStallSeconds,
        libraryItems: items.length,
        libraryDistinct: inLibrary.size,
        workerIdleRssBytes: idleRss,
        workerPeakRssBytes: Math.max(rss.max, rss.hwm),
        logged,
      },
    };
  } finally {
    await cleanup.run();
  }
}
