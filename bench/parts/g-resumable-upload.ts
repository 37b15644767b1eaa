import path from 'node:path';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { startBaseline } from '../lib/baseline.ts';
import { writeLargeFile } from '../lib/media-files.ts';
import { uploadMultipart } from '../lib/multipart.ts';
import { rssThrough } from '../lib/proc.ts';
import { uploadResumable } from '../lib/resumable.ts';
import { Cleanup, Client, isolatedRelayEnv, startRelayChild, summarizeLogLine } from '../lib/relay.ts';
import { GiB, MiB, mb, mbps, ratio, secs, size, verdict, type BenchContext, type PartResult } from '../lib/report.ts';

// The memory targets, as for the multipart upload (part b): the API process's RSS peaks below this…
const PEAK_LIMIT = 150e6;
// …and stays flat: the peak within this of the idle RSS before the upload.
const GROWTH_LIMIT = 50e6;
/** The relay's own web app appends in 8 MiB PATCHes: the memory run uses them too (request churn and streaming). */
const RSS_PATCH_BYTES = 8 * MiB;

/**
 * (g) One large file through the resumable endpoint (tus 1.0) — in one PATCH, and in 8 MiB PATCHes — against the
 * hash + fsync baseline, same bytes, best of three each. Targets (issue 12): one PATCH ≥ 0.9× the baseline's throughput, 8 MiB PATCHes
 * ≥ 0.8×. Then the API process's RSS through a 2 GiB resumable upload (quick: 256 MiB): peak ≤ 150 MB, flat.
 */
export async function resumableUpload(ctx: BenchContext): Promise<PartResult> {
  const bytes = ctx.quick ? 64 * MiB : 1 * GiB;
  const rssBytes = ctx.quick ? 256 * MiB : 2 * GiB;
  const reps = ctx.quick ? 2 : 3;
  const cleanup = new Cleanup();
  try {
    const file = await writeLargeFile(ctx.dataDir, 'mp4', bytes, 'resumable.mp4');
    cleanup.add('remove test file', () => rm(file.path, { force: true }));
    const baseline = await startBaseline(path.join(ctx.dataDir, 'baseline-g'), cleanup);
    const iso = await isolatedRelayEnv('http://127.0.0.1:9', cleanup);
    const relay = await startRelayChild(iso, 'api', cleanup);
    const admin = new Client(relay.url);
    const accountId = await admin.createAccount('Bench G');

    // Best of `reps` for each of the three, in rotating order: a single sample of a disk-bound run swings by a third
    // from one run to the next (write-back of earlier runs, other processes), and neither side should always run first.
    const seconds: Record<'baseline' | 'one PATCH' | '8 MiB PATCHes', number[]> = { baseline: [], 'one PATCH': [], '8 MiB PATCHes': [] };
    // `timed` false: the run is priming (below), and its figures are not kept.
    const runBaseline = async (timed = true) => {
      const r = await uploadMultipart(baseline.url, file, { fields: { deviceAssetId: 'g' } });
      if (r.status !== 201) throw new Error(`baseline answered ${r.status}`);
      if (timed) {
        ctx.log(`baseline: ${secs(r.seconds)} (${mbps(bytes, r.seconds)})`);
        seconds.baseline.push(r.seconds);
      }
      await baseline.clear();
    };
    const runRelay = (label: 'one PATCH' | '8 MiB PATCHes', chunk: number) => async (run: number | 'priming') => {
      // A device of its own per run: each is a new asset (its bytes are a blob the relay holds since priming).
      const device = await admin.pairDevice(accountId, `Bench phone ${label} ${run}`);
      const r = await uploadResumable(relay.url, file, device.token, `g-${label}-${run}`, chunk);
      if (r.status !== 204 || !r.assetId) throw new Error(`resumable (${label}) answered ${r.status}: ${String(r.body).slice(0, 300)}`);
      if (run === 'priming') return; // its figures are not kept
      ctx.log(`relay, ${label}: ${secs(r.seconds)} (${mbps(bytes, r.seconds)})`);
      seconds[label].push(r.seconds);
    };
    const onePatch = runRelay('one PATCH', Infinity);
    const order = [() => runBaseline(), onePatch, runRelay('8 MiB PATCHes', 8 * MiB)];
    // Priming (bench/README.md, "Fresh memory"): the relay stores the file once and the baseline receives and deletes
    // it once, untimed, so every timed run starts after a run that freed as much as it wrote.
    await onePatch('priming');
    await runBaseline(false);
    for (let rep = 0; rep < reps; rep++) {
      for (let i = 0; i < order.length; i++) await order[(i + rep) % order.length]!(rep);
    }
    const best = (xs: number[]) => Math.min(...xs);
    const base = { seconds: best(seconds.baseline) };
    const results = { 'one PATCH': best(seconds['one PATCH']), '8 MiB PATCHes': best(seconds['8 MiB PATCHes']) };
    const one = base.seconds / results['one PATCH'];
    const eight = base.seconds / results['8 MiB PATCHes'];
    await rm(file.path, { force: true });

    // Memory: the throughput runs above were the warm-up, so "before" is the steady idle state.
    ctx.log(`generating a ${size(rssBytes)} MP4 file`);
    const big = await writeLargeFile(ctx.dataDir, 'mp4', rssBytes, 'resumable-rss.mp4');
    cleanup.add('remove RSS test file', () => rm(big.path, { force: true }));
    await sleep(1000);
    const device = await admin.pairDevice(accountId, 'Bench phone RSS');
    const { result: r, memory } = await rssThrough(relay.child.pid, () =>
      uploadResumable(relay.url, big, device.token, 'g-rss', RSS_PATCH_BYTES),
    );
    await rm(big.path, { force: true });
    if (r.status !== 204 || !r.assetId) throw new Error(`resumable (RSS) answered ${r.status}: ${String(r.body).slice(0, 300)}`);
    const { before, peak, after } = memory;
    ctx.log(
      `${size(rssBytes)} in ${size(RSS_PATCH_BYTES)} PATCHes: ${secs(r.seconds)} (${mbps(rssBytes, r.seconds)}); RSS before ${mb(before)}, ` +
        `peak ${mb(memory.peakSampled)} sampled / ${mb(memory.hwm)} VmHWM (${memory.samples} samples), after ${mb(after)}`,
    );
    const notes: string[] = [];
    if (peak >= PEAK_LIMIT) notes.push(`peak RSS ${mb(peak)} during the ${size(rssBytes)} resumable upload is over ${mb(PEAK_LIMIT, 0)}`);
    if (peak - before >= GROWTH_LIMIT)
      notes.push(`RSS grew by ${mb(peak - before)} during the ${size(rssBytes)} resumable upload: not flat`);
    if (!memory.hwmReset) notes.push('could not reset VmHWM (/proc/<pid>/clear_refs): the VmHWM peak includes start-up');
    const warnings = relay.child.warnings();
    if (warnings.length) notes.push(`relay logged ${warnings.length} warning/error line(s), e.g. ${summarizeLogLine(warnings[0]!)}`);
    return {
      id: 'g',
      title: `one ${size(bytes)} resumable upload; RSS through ${size(rssBytes)}`,
      seconds: 0,
      notes,
      rows: [
        {
          part: 'g',
          measure: `${size(bytes)} resumable, one PATCH, throughput`,
          relay: mbps(bytes, results['one PATCH']!),
          baseline: mbps(bytes, base.seconds),
          ratio: ratio(one),
          target: '≥ 0.90×',
          verdict: verdict(one >= 0.9),
        },
        {
          part: 'g',
          measure: `${size(bytes)} resumable, 8 MiB PATCHes, throughput`,
          relay: mbps(bytes, results['8 MiB PATCHes']!),
          baseline: mbps(bytes, base.seconds),
          ratio: ratio(eight),
          target: '≥ 0.80×',
          verdict: verdict(eight >= 0.8),
        },
        {
          part: 'g',
          measure: `relay RSS during ${size(rssBytes)} resumable upload (8 MiB PATCHes): before → peak → after`,
          relay: `${mb(before)} → ${mb(peak)} → ${mb(after)}`,
          baseline: '',
          ratio: '',
          target: `peak < ${mb(PEAK_LIMIT, 0)}, growth < ${mb(GROWTH_LIMIT, 0)}`,
          verdict: verdict(peak < PEAK_LIMIT && peak - before < GROWTH_LIMIT),
        },
      ],
      data: {
        bytes,
        reps,
        seconds,
        baselineSeconds: base.seconds,
        relaySeconds: results,
        rss: { bytes: rssBytes, patchBytes: RSS_PATCH_BYTES, seconds: r.seconds, ...memory },
        peakLimitBytes: PEAK_LIMIT,
        growthLimitBytes: GROWTH_LIMIT,
        relayWarnings: warnings.length,
      },
    };
  } finally {
    await cleanup.run();
  }
}
