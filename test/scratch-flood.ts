import { Client } from './helpers/client.ts';
import { startRelay } from './helpers/harness.ts';
import { jpeg } from './helpers/media.ts';
import { multipart, RawConnection, requestHead } from './helpers/raw-http.ts';
const relay = await startRelay({ LOG_LEVEL: process.env.LL ?? 'silent' });
const admin = new Client(relay.url);
const phone = await admin.pairDevice(await admin.createAccount('x'));
const mode = process.argv[2];
for (const headersLast of [false, true]) {
  const n = Number(process.env.N ?? 5000);
  const flood = Array.from({ length: n }, (_, i) => `X-Junk-${i}: ${'v'.repeat(10)}`);
  const parts: any[] = [{ name: 'deviceAssetId', value: 'x' }, { name: 'file', value: jpeg(50_000), filename: 'a.jpg', extraHeaders: flood, headersLast }];
  const { body, contentType } = mode === 'garbage' ? { body: Buffer.from('garbage no delim'), contentType: 'multipart/form-data; boundary=abc' } : multipart(parts);
  const conn = await RawConnection.open(relay.url);
  await conn.write(requestHead('POST', '/api/v1/assets', { Authorization: `Bearer ${phone.token}`, 'Content-Type': contentType, 'Content-Length': body.length }));
  await conn.write(body);
  const res = await conn.responseWithin(3000);
  console.log('headersLast', headersLast, res === undefined ? 'TIMEOUT' : res?.status, res?.text);
  conn.socket.destroy();
  if (mode === 'garbage') break;
}
await relay.close();
