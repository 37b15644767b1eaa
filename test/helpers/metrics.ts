import assert from 'node:assert/strict';
import { ADMIN_TOKEN } from './harness.ts';

/** The relay's /metrics, as a map of series (name with labels) to value. */
export async function scrape(baseUrl: string): Promise<Map<string, number>> {
  const res = await fetch(`${baseUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
  const series = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    series.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return series;
}

/** Bytes the relay read off the network for resumable appends, and bytes it appended durably (see src/ops/metrics.ts). */
export async function resumableBytes(baseUrl: string): Promise<{ received: number; appended: number }> {
  const series = await scrape(baseUrl);
  return {
    received: series.get('photo_relay_resumable_bytes_received_total') ?? NaN,
    appended: series.get('photo_relay_resumable_bytes_appended_total') ?? NaN,
  };
}
