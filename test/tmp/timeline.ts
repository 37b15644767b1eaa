import { startRig } from '../helpers/rig.ts';
import { jpeg } from '../helpers/media.ts';
import { member, send, stats } from '../helpers/forwarding.ts';

const LAT = Number(process.env.LAT ?? 500);
const N = Number(process.env.N ?? 100);
const rig = await startRig({ emulator: { latencyMs: LAT }, forwarding: { maxConcurrency: 16, adaptiveConcurrency: process.env.FIXED ? false : true, ...(process.env.FIXED ? { maxConcurrency: 4 } : {}) } });
const m = await member(rig, 'T');
await rig.admin.call('PATCH', `/api/v1/admin/accounts/${m.accountId}`, { forwarding: 'paused' });
for (let i = 0; i < N; i++) await send(m.phone, jpeg(50_000 + i * 7));
await new Promise((r) => setTimeout(r, 1000));
const t0 = performance.now();
await rig.admin.call('PATCH', `/api/v1/admin/accounts/${m.accountId}`, { forwarding: 'active' });
const w = rig.worker!.context.windows.of(m.accountId);
for (;;) {
  const s = await stats(rig);
  const done = await rig.relay.services.db.delivery.count({ where: { accountId: m.accountId, state: 'backed_up' } });
  const tokens = await rig.relay.services.db.delivery.count({ where: { accountId: m.accountId, uploadToken: { not: null } } });
  console.log(`${((performance.now() - t0) / 1000).toFixed(2)}s inflight=${s.uploads.inFlight[m.email] ?? 0} limit=${w.limit} active=${w.active} waiting=${w.waiting} uploads200=${s.requests.upload?.['200'] ?? 0} tokens=${tokens} bc=${JSON.stringify(s.requests.batchCreate ?? {})} done=${done}`);
  if (done === N) break;
  await new Promise((r) => setTimeout(r, 200));
}
await rig.close();
