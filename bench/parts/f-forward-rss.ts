import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeLargeFile, writePhotoSet } from '../lib/media-files.ts';
import { uploadMultipart } from '../lib/multipart.ts';
import { idleRss, readMemory, RssSampler } from '../lib/proc.ts';
import { Cleanup, summarizeLogLine, waitBackedUp } from '../lib/relay.ts';
import {
  control,
  emulatorStats,
  forwardingRig,
  libraryItems,
  requestDiff,
  setForwarding,
  startIdleWorker,
  totalOf,
} from '../lib/forwarding.ts';
import { GiB, MiB, mb, mbps, secs, size, verdict, type BenchContext, type PartResult } from '../lib/report.ts';

const LATENCY_MS = 100;
const PEAK_LIMIT = 150e6;
const GROWTH_LIMIT = 50e6;

/**
 * (f) The worker's RSS while it forwards one very large video through the resumable upload path. The worker
 * forwards one small photo first, so one-time costs (loading the Google client, first token refresh) are measured
 * on their own and "before" is the RSS of a worker that has already forwarded something.
 */
export async function forwardRss(ctx: BenchContext): Promise<PartResult> {
  const bytes = ctx.quick ? 256 * MiB : 2 * GiB;
  const cleanup = new Cleanup();
  try {
    const rig = await forwardingRig('Bench F', cleanup);
    const upload = async (file: { path: string; name: string; size: number; mimeType: string; sha256: string }, id: string) => {
      const r = await uploadMultipart(`${rig.api.url}/api/v1/assets`, file, { token: rig.device.token, fields: { deviceAssetId: id } });
      if (r.status !== 201 || r.body.sha256 !== file.sha256) throw new Error(`upload ${id}: ${r.status} ${JSON.stringify(r.body)}`);
      return r;
    };
    const wait = (n: number) =>
      waitBackedUp(rig.db, n, 30 * 60_000, (s) =>
        ctx.log(`  … ${JSON.stringify(s)}, worker RSS now ${mb(readMemory(worker.child.pid)?.rss ?? NaN)}`),
      );

    // Warm-up: one photo through a fresh worker.
    const [photo] = await writePhotoSet(ctx.dataDir, 1, 500_000, 500_000, 99, 'WARM_F_');
    cleanup.add('remove warm-up photo', () => rm(photo!.path, { force: true }));
    await upload(photo!, 'f-warm-up');
    const { worker, idleRss: fresh } = await startIdleWorker(rig, cleanup);
    await control(rig.emulator.url, 'PATCH', '/emulator/config', { latencyMs: LATENCY_MS });
    const warmSampler = new RssSampler(worker.child.pid).start({ resetPeak: true });
    await setForwarding(rig.admin, rig.accountId, 'active');
    await wait(1);
    const warm = warmSampler.stop();
    await setForwarding(rig.admin, rig.accountId, 'paused');
    ctx.log(`fresh worker idle at ${mb(fresh)}; forwarding one photo took it to ${mb(Math.max(warm.max, warm.hwm))}`);

    ctx.log(`generating a ${size(bytes)} MP4 file`);
    const file = await writeLargeFile(ctx.dataDir, 'mp4', bytes, `bench-f-${bytes}.mp4`);
    cleanup.add('remove test file', () => rm(file.path, { force: true }));
    const up = await upload(file, 'f-video');
    await rm(file.path, { force: true });
    ctx.log(`uploaded in ${secs(up.seconds)} with forwarding paused`);
    // The upload's job reaches the worker, which sets it aside (paused): let that settle.
    await sleep(2000);
    const before = await idleRss(worker.child.pid, 20);
    const statsBefore = await emulatorStats(rig);
    ctx.log(`worker idle at ${mb(before)}; resuming forwarding`);

    const sampler = new RssSampler(worker.child.pid).start({ resetPeak: true });
    const started = performance.now();
    await setForwarding(rig.admin, rig.accountId, 'active');
    await wait(2);
    const seconds = (performance.now() - started) / 1000;
    const rss = sampler.stop();
    await sleep(2000);
    const after = await idleRss(worker.child.pid);
    const statsAfter = await emulatorStats(rig);
    const diff = requestDiff(statsBefore, statsAfter);
    const items = await libraryItems(rig);
    const peak = Math.max(rss.max, rss.hwm);
    ctx.log(
      `forwarded in ${secs(seconds)} (${mbps(bytes, seconds)}); worker RSS before ${mb(before)}, peak ${mb(rss.max)} sampled / ${mb(rss.hwm)} VmHWM (${rss.samples} samples), after ${mb(after)}`,
    );

    const notes: string[] = [];
    const warmPeak = Math.max(warm.max, warm.hwm);
    if (warmPeak - fresh > GROWTH_LIMIT)
      notes.push(
        `forwarding its first photo grows a fresh worker from ${mb(fresh)} to ${mb(warmPeak)} (one-time: the Google client is loaded on first use)`,
      );
    if (peak >= PEAK_LIMIT) notes.push(`worker peak RSS ${mb(peak)} while forwarding ${size(bytes)} is over ${mb(PEAK_LIMIT, 0)}`);
    if (peak - before >= GROWTH_LIMIT) notes.push(`worker RSS grew by ${mb(peak - before)} while forwarding ${size(bytes)}: not flat`);
    const video = items.find((i) => i.sha256 === file.sha256);
    if (items.length !== 2 || !video) notes.push(`library: ${JSON.stringify(items.map((i) => [i.sha256, i.size]))}`);
    const logged: Record<string, string[]> = {};
    for (const child of [rig.api.child, worker.child]) {
      const w = child.warnings();
      logged[child.name] = w.slice(0, 10);
      if (w.length) notes.push(`${child.name} logged ${w.length} warning/error line(s), e.g. ${summarizeLogLine(w[0]!)}`);
    }
    return {
      id: 'f',
      title: `worker RSS forwarding a ${size(bytes)} video (resumable)`,
      seconds: 0,
      notes,
      rows: [
        {
          part: 'f',
          measure: `worker RSS: fresh idle → after forwarding its first photo`,
          relay: `${mb(fresh)} → ${mb(warmPeak)}`,
          baseline: '',
          ratio: '',
          target: '',
          verdict: '',
        },
        {
          part: 'f',
          measure: `worker RSS forwarding ${size(bytes)} video: before → peak → after`,
          relay: `${mb(before)} → ${mb(peak)} → ${mb(after)}`,
          baseline: '',
          ratio: '',
          target: `peak < ${mb(PEAK_LIMIT, 0)}`,
          verdict: verdict(peak < PEAK_LIMIT),
        },
        {
          part: 'f',
          measure: `worker RSS growth while forwarding ${size(bytes)}`,
          relay: mb(peak - before),
          baseline: '',
          ratio: '',
          target: `< ${mb(GROWTH_LIMIT, 0)}`,
          verdict: verdict(peak - before < GROWTH_LIMIT),
        },
        {
          part: 'f',
          measure: `forwarding time (${totalOf(diff, 'uploadChunk')} chunks, ${LATENCY_MS} ms/call)`,
          relay: `${secs(seconds)} (${mbps(bytes, seconds)})`,
          baseline: '',
          ratio: '',
          target: '',
          verdict: '',
        },
      ],
      data: {
        bytes,
        latencyMs: LATENCY_MS,
        ingestSeconds: up.seconds,
        forwardSeconds: seconds,
        workerFreshIdleRssBytes: fresh,
        workerAfterFirstPhotoPeakBytes: warmPeak,
        workerIdleRssBytes: before,
        workerPeakSampledBytes: rss.max,
        workerHwmBytes: rss.hwm,
        hwmReset: rss.hwmReset,
        workerAfterBytes: after,
        samples: rss.samples,
        requestsByEndpoint: diff,
        resumable: statsAfter.resumable,
        libraryHasVideo: Boolean(video),
        logged,
      },
    };
  } finally {
    await cleanup.run();
  }
}
