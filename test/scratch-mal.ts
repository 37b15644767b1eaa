import { NO_DEMO_ENV } from './helpers/checks.ts';
import { Client } from './helpers/client.ts';
import { startRelay } from './helpers/harness.ts';
import { jpeg } from './helpers/media.ts';
import { multipart, rawRequest } from './helpers/raw-http.ts';
const relay = await startRelay({ ...NO_DEMO_ENV, LOG_LEVEL: 'error' });
const admin = new Client(relay.url);
const phone = await admin.pairDevice(await admin.createAccount('x'));
const send = (type: string | undefined, body: Buffer | string) =>
  rawRequest(relay.url, 'POST', '/api/v1/assets', { Authorization: `Bearer ${phone.token}`, ...(type ? { 'Content-Type': type } : {}) }, body);
const { body, contentType } = multipart([{ name: 'deviceAssetId', value: 'g' }, { name: 'file', value: jpeg(100_000), filename: 'a.jpg' }]);
for (const [t, b] of [['multipart/form-data', 'whatever'], ['multipart/form-data; boundary=abc', 'garbage'], [contentType, body.subarray(0, body.length - 20)], [contentType, ''], [contentType, `--${contentType.split('=')[1]}--\r\n`], [undefined, jpeg(5000)], ['multipart/form-data; boundary=', 'x'], ['multipart/mixed; boundary=abc', '--abc--\r\n']] as const) {
  const r = await send(t, b as any);
  console.log(JSON.stringify(t)?.slice(0, 50), r?.status, r?.text);
}
await relay.close();
