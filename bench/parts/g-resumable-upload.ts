import path from 'node:path';
import { rm } from 'node:fs/promises';
import { startBaseline } from '../lib/baseline.ts';
import { writeLargeFile } from '../lib/media-files.ts';
import { uploadMultipart } from '../lib/multipart.ts';
import { uploadResumable } from '../lib/resumable.ts';
import { Cleanup, Client, isolatedRelayEnv, startRelayChild } from '../lib/relay.ts';
import { GiB, MiB, mbps, ratio, secs, size, verdict, type BenchContext, type PartResult } from '../lib/report.ts';

/**
 * (g) One large file through the resumable endpoint (tus 1.0) — in one PATCH, and in 8 MiB PATCHes — against the
 * hash + fsync baseline, same bytes. Targets (issue 12): one PATCH ≥ 0.9× the baseline's throughput, 8 MiB PATCHes
 * ≥ 0.8×.
 */
export async function resumableUpload(ctx: BenchContext): Promise<PartResult> {
  const bytes = ctx.quick ? 64 * MiB : 1 * GiB;
  const cleanup = new Cleanup();
  try {
    const file = await writeLargeFile(ctx.dataDir, 'mp4', bytes, 'resumable.mp4');
    cleanup.add('remove test file', () => rm(file.path, { force: true }));
    const baseline = await startBaseline(path.join(ctx.dataDir, 'baseline-g'), cleanup);
    const iso = await isolatedRelayEnv('http://127.0.0.1:9', cleanup);
    const relay = await startRelayChild(iso, 'api', cleanup);
    const admin = new Client(relay.url);
    const accountId = await admin.createAccount('Bench G');

    const base = await uploadMultipart(baseline.url, file, { fields: { deviceAssetId: 'g' } });
    if (base.status !== 201) throw new Error(`baseline answered ${base.status}`);
    ctx.log(`baseline: ${secs(base.seconds)} (${mbps(bytes, base.seconds)})`);
    await baseline.clear();

    const results: Record<string, number> = {};
    for (const [label, chunk] of [
      ['one PATCH', Infinity],
      ['8 MiB PATCHes', 8 * MiB],
    ] as const) {
      // A device of its own per run: each is a new asset, never a duplicate.
      const device = await admin.pairDevice(accountId, `Bench phone ${label}`);
      const r = await uploadResumable(relay.url, file, device.token, `g-${label}`, chunk);
      if (r.status !== 204 || !r.assetId) throw new Error(`resumable (${label}) answered ${r.status}: ${String(r.body).slice(0, 300)}`);
      ctx.log(`relay, ${label}: ${secs(r.seconds)} (${mbps(bytes, r.seconds)})`);
      results[label] = r.seconds;
    }
    const one = base.seconds / results['one PATCH']!;
    const eight = base.seconds / results['8 MiB PATCHes']!;
    return {
      id: 'g',
      title: `one ${size(bytes)} resumable upload`,
      seconds: 0,
      notes: [],
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
      ],
      data: { bytes, baselineSeconds: base.seconds, relaySeconds: results },
    };
  } finally {
    await cleanup.run();
  }
}
