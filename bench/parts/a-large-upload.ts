import path from 'node:path';
import { rm } from 'node:fs/promises';
import { startBaseline } from '../lib/baseline.ts';
import { writeLargeFile, writePhotoSet } from '../lib/media-files.ts';
import { uploadMultipart, type UploadResult } from '../lib/multipart.ts';
import { RssSampler } from '../lib/proc.ts';
import { Cleanup, Client, isolatedRelayEnv, startRelayChild, summarizeLogLine } from '../lib/relay.ts';
import { GiB, MiB, mb, mbps, ratio, secs, size, type BenchContext, type PartResult } from '../lib/report.ts';

/** (a) One large multipart upload through the relay vs the hash + fsync baseline, same bytes, same client. */
export async function largeUpload(ctx: BenchContext): Promise<PartResult> {
  const bytes = ctx.quick ? 64 * MiB : 1 * GiB;
  const reps = ctx.quick ? 2 : 3;
  const cleanup = new Cleanup();
  try {
    ctx.log(`generating a ${size(bytes)} MP4 file`);
    const file = await writeLargeFile(ctx.dataDir, 'mp4', bytes);
    cleanup.add('remove test file', () => rm(file.path, { force: true }));

    const baseline = await startBaseline(path.join(ctx.dataDir, 'baseline-a'), cleanup);
    const iso = await isolatedRelayEnv('http://127.0.0.1:9', cleanup);
    const relay = await startRelayChild(iso, 'api', cleanup);
    const admin = new Client(relay.url);
    const accountId = await admin.createAccount('Bench A');

    const runs: { relay: UploadResult[]; baseline: UploadResult[]; relayPeakRss: number[]; baselinePeakRss: number[] } = {
      relay: [],
      baseline: [],
      relayPeakRss: [],
      baselinePeakRss: [],
    };
    // `timed` false: the run is priming (below), and its figures are not kept.
    const runBaseline = async (timed = true) => {
      const sampler = new RssSampler(baseline.child.pid).start({ resetPeak: true });
      const result = await uploadMultipart(baseline.url, file, { fields: { deviceAssetId: 'a' } });
      const rss = sampler.stop();
      if (result.status !== 201) throw new Error(`baseline answered ${result.status}: ${JSON.stringify(result.body)}`);
      if (timed) {
        runs.baseline.push(result);
        runs.baselinePeakRss.push(Math.max(rss.max, rss.hwm));
        ctx.log(`baseline: ${secs(result.seconds)} (${mbps(bytes, result.seconds)})`);
      }
      await baseline.clear();
    };
    const runRelay = async (run: number | 'priming') => {
      // A device of its own per run: each upload is a new asset (201), never a duplicate answer (its bytes are a blob
      // the relay holds since priming).
      const device = await admin.pairDevice(accountId, `Bench phone ${run}`);
      const sampler = new RssSampler(relay.child.pid).start({ resetPeak: true });
      const result = await uploadMultipart(`${relay.url}/api/v1/assets`, file, {
        token: device.token,
        fields: { deviceAssetId: `a-${run}` },
      });
      const rss = sampler.stop();
      if (result.status !== 201) throw new Error(`relay answered ${result.status}: ${JSON.stringify(result.body)}`);
      if (result.body.sha256 !== file.sha256 || result.body.size !== bytes)
        throw new Error(`relay stored the wrong bytes: ${JSON.stringify(result.body)}`);
      if (run === 'priming') return; // its figures are not kept
      runs.relay.push(result);
      runs.relayPeakRss.push(Math.max(rss.max, rss.hwm));
      ctx.log(`relay:    ${secs(result.seconds)} (${mbps(bytes, result.seconds)}), peak RSS ${mb(Math.max(rss.max, rss.hwm))}`);
    };
    // One small untimed upload to each first: lazy initialisation (modules, pools) is not what (a) measures.
    const [warm] = await writePhotoSet(ctx.dataDir, 1, 1_000_000, 1_000_000, 1, 'WARM_A_');
    cleanup.add('remove warm-up photo', () => rm(warm!.path, { force: true }));
    const warmDevice = await admin.pairDevice(accountId, 'Warm-up phone');
    for (const [url, token] of [
      [baseline.url, undefined],
      [`${relay.url}/api/v1/assets`, warmDevice.token],
    ] as const) {
      const r = await uploadMultipart(url, warm!, { ...(token ? { token } : {}), fields: { deviceAssetId: 'warm-up' } });
      if (r.status !== 201) throw new Error(`warm-up upload to ${url}: ${r.status} ${JSON.stringify(r.body)}`);
    }
    await baseline.clear();
    // Priming (bench/README.md, "Fresh memory"): the relay stores the file once and the baseline receives and deletes
    // it once, untimed, so every timed run starts after a run that freed as much as it wrote.
    await runRelay('priming');
    await runBaseline(false);

    // Alternate the order so neither side always runs on a warmer (or busier) machine.
    for (let rep = 0; rep < reps; rep++) {
      if (rep % 2 === 0) {
        await runBaseline();
        await runRelay(rep);
      } else {
        await runRelay(rep);
        await runBaseline();
      }
    }

    const best = (rs: UploadResult[]) => Math.min(...rs.map((r) => r.seconds));
    const relayS = best(runs.relay);
    const baseS = best(runs.baseline);
    const notes: string[] = [];
    const warnings = relay.child.warnings();
    if (warnings.length) notes.push(`relay logged ${warnings.length} warning/error line(s), e.g. ${summarizeLogLine(warnings[0]!)}`);
    const label = reps > 1 ? ` (best of ${reps})` : '';
    return {
      id: 'a',
      title: `one ${size(bytes)} multipart upload`,
      seconds: 0,
      notes,
      rows: [
        {
          part: 'a',
          measure: `${size(bytes)} multipart upload, seconds${label}`,
          relay: secs(relayS),
          baseline: secs(baseS),
          ratio: ratio(relayS / baseS),
          target: '',
          verdict: '',
        },
        {
          part: 'a',
          measure: `${size(bytes)} multipart upload, throughput${label}`,
          relay: mbps(bytes, relayS),
          baseline: mbps(bytes, baseS),
          ratio: ratio(baseS / relayS),
          target: '',
          verdict: '',
        },
      ],
      data: {
        bytes,
        repetitions: reps,
        relaySeconds: runs.relay.map((r) => r.seconds),
        baselineSeconds: runs.baseline.map((r) => r.seconds),
        relayBestSeconds: relayS,
        baselineBestSeconds: baseS,
        relayMBps: bytes / 1e6 / relayS,
        baselineMBps: bytes / 1e6 / baseS,
        timeRatio: relayS / baseS,
        throughputRatio: baseS / relayS,
        relayPeakRssBytes: runs.relayPeakRss,
        baselinePeakRssBytes: runs.baselinePeakRss,
        relayWarnings: warnings.length,
      },
    };
  } finally {
    await cleanup.run();
  }
}
