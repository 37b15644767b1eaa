import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeLargeFile, writePhotoSet } from '../lib/media-files.ts';
import { uploadMultipart } from '../lib/multipart.ts';
import { idleRss, rssThrough } from '../lib/proc.ts';
import { Cleanup, Client, isolatedRelayEnv, startRelayChild, summarizeLogLine } from '../lib/relay.ts';
import { GiB, MiB, mb, mbps, secs, size, verdict, type BenchContext, type PartResult } from '../lib/report.ts';

const PEAK_LIMIT = 150e6;
// "Flat": the peak stays within this of the idle RSS before the upload, whatever the upload's size.
const GROWTH_LIMIT = 50e6;

/** (b) The relay's RSS while it ingests a very large upload: before, peak (sampled and VmHWM), after. */
export async function uploadRss(ctx: BenchContext): Promise<PartResult> {
  const sizes = ctx.quick ? [64 * MiB, 256 * MiB] : [256 * MiB, 2 * GiB];
  const cleanup = new Cleanup();
  try {
    const iso = await isolatedRelayEnv('http://127.0.0.1:9', cleanup);
    const relay = await startRelayChild(iso, 'api', cleanup);
    const admin = new Client(relay.url);
    const accountId = await admin.createAccount('Bench B');
    const device = await admin.pairDevice(accountId);
    const atStart = await idleRss(relay.child.pid);

    // Warm up (multipart plugin, media sniffing, database pool) so "before" is the steady idle state.
    const [warm] = await writePhotoSet(ctx.dataDir, 1, 1_000_000, 1_000_000, 7, 'WARM_B_');
    cleanup.add('remove warm-up photo', () => rm(warm!.path, { force: true }));
    const warmUp = await uploadMultipart(`${relay.url}/api/v1/assets`, warm!, {
      token: device.token,
      fields: { deviceAssetId: 'warm-up' },
    });
    if (warmUp.status !== 201) throw new Error(`warm-up upload: ${warmUp.status} ${JSON.stringify(warmUp.body)}`);

    const runs = [];
    for (const bytes of sizes) {
      ctx.log(`generating a ${size(bytes)} MP4 file`);
      const file = await writeLargeFile(ctx.dataDir, 'mp4', bytes, `bench-b-${bytes}.mp4`);
      await sleep(1000);
      const { result, memory: m } = await rssThrough(relay.child.pid, () =>
        uploadMultipart(`${relay.url}/api/v1/assets`, file, { token: device.token, fields: { deviceAssetId: `b-${bytes}` } }),
      );
      await rm(file.path, { force: true });
      if (result.status !== 201 || result.body.sha256 !== file.sha256)
        throw new Error(`relay answered ${result.status}: ${JSON.stringify(result.body)}`);
      runs.push({ bytes, seconds: result.seconds, ...m });
      ctx.log(
        `${size(bytes)}: ${secs(result.seconds)} (${mbps(bytes, result.seconds)}); RSS before ${mb(m.before)}, peak ${mb(m.peakSampled)} sampled / ${mb(m.hwm)} VmHWM (${m.samples} samples), after ${mb(m.after)}`,
      );
    }

    const big = runs[runs.length - 1]!;
    const small = runs[0]!;
    const notes: string[] = [];
    if (big.peak >= PEAK_LIMIT) notes.push(`peak RSS ${mb(big.peak)} during the ${size(big.bytes)} upload is over ${mb(PEAK_LIMIT, 0)}`);
    if (big.peak - big.before >= GROWTH_LIMIT)
      notes.push(`RSS grew by ${mb(big.peak - big.before)} during the ${size(big.bytes)} upload: not flat`);
    if (big.peak - small.peak > 20e6)
      notes.push(
        `the ${size(big.bytes)} upload peaked ${mb(big.peak - small.peak)} above the ${size(small.bytes)} one: memory grows with upload size`,
      );
    const warnings = relay.child.warnings();
    if (warnings.length) notes.push(`relay logged ${warnings.length} warning/error line(s), e.g. ${summarizeLogLine(warnings[0]!)}`);
    if (!big.hwmReset) notes.push('could not reset VmHWM (/proc/<pid>/clear_refs): the VmHWM peak includes start-up');
    const peakOk = big.peak < PEAK_LIMIT;
    const flatOk = big.peak - big.before < GROWTH_LIMIT;
    return {
      id: 'b',
      title: `relay RSS during a ${size(big.bytes)} upload`,
      seconds: 0,
      notes,
      rows: [
        {
          part: 'b',
          measure: `relay RSS during ${size(big.bytes)} upload: before → peak → after`,
          relay: `${mb(big.before)} → ${mb(big.peak)} → ${mb(big.after)}`,
          baseline: '',
          ratio: '',
          target: `peak < ${mb(PEAK_LIMIT, 0)}`,
          verdict: verdict(peakOk),
        },
        {
          part: 'b',
          measure: `RSS growth during upload (${size(small.bytes)} | ${size(big.bytes)})`,
          relay: `${mb(small.peak - small.before)} | ${mb(big.peak - big.before)}`,
          baseline: '',
          ratio: '',
          target: `< ${mb(GROWTH_LIMIT, 0)}, same for both`,
          verdict: verdict(flatOk && big.peak - small.peak <= 20e6),
        },
      ],
      data: { rssAtStartBytes: atStart, runs, peakLimitBytes: PEAK_LIMIT, growthLimitBytes: GROWTH_LIMIT, relayWarnings: warnings.length },
    };
  } finally {
    await cleanup.run();
  }
}
