/**
 * The baseline the relay is compared with: the least an upload server must do. It hashes the request body
 * (SHA-256) on the way to an fsynced file (`flush: true`), and with --insert records one row per upload in
 * Postgres. No multipart parsing, no auth, no media sniffing, no rename, no queue.
 *
 *   node --import tsx bench/baseline-server.ts --dir <dir> [--insert <postgres url>] [--port <n>]
 *
 * Prints {"port":n} on stdout once listening. SIGTERM closes it.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const dir = arg('dir');
if (!dir) {
  console.error('--dir is required');
  process.exit(2);
}
const insertUrl = arg('insert');
const port = Number(arg('port') ?? 0);

const db = insertUrl ? new pg.Pool({ connectionString: insertUrl, max: 10 }) : null;
if (db) {
  await db.query(`CREATE TABLE IF NOT EXISTS baseline_uploads (
    sha256 char(64) PRIMARY KEY, size bigint NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`);
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST') {
    res.writeHead(404).end();
    return;
  }
  const hash = createHash('sha256');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, callback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  const file = path.join(dir, `${randomUUID()}.part`);
  pipeline(req, meter, createWriteStream(file, { flags: 'wx', mode: 0o600, flush: true }))
    .then(async () => {
      const sha256 = hash.digest('hex');
      if (db) await db.query('INSERT INTO baseline_uploads (sha256, size) VALUES ($1, $2)', [sha256, size]);
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ sha256, size }));
    })
    .catch(async (err: unknown) => {
      await unlink(file).catch(() => {});
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err));
    });
});
server.requestTimeout = 0;
server.keepAliveTimeout = 72_000;
server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  console.log(JSON.stringify({ port: typeof address === 'object' && address ? address.port : port }));
});

process.once('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => {
    void (db?.end() ?? Promise.resolve()).finally(() => process.exit(0));
  });
});
