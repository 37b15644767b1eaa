import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import pg from 'pg';
import { BlobStore } from '../src/ingest/blob-store.ts';
import { ChildRelay, freePort } from './helpers/child.ts';
import { Client } from './helpers/client.ts';
import { ADMIN_TOKEN, isolate, listFiles, type Isolation } from './helpers/harness.ts';
import { jpeg } from './helpers/media.ts';
import { rawRequest } from './helpers/raw-http.ts';
import {
  describeRequest,
  type Fixture,
  type FuzzRequest,
  headerRequests,
  jsonRequests,
  judge,
  multipartRequests,
  nextcloudRequests,
  queryRequests,
  rawRequests,
  resumableRequests,
  send,
  webdavRequests,
} from './helpers/fuzz.ts';

/**
 * Hostile input, generated: seeded property tests against the relay as production runs it (a child process on real
 * Postgres and Redis). For every request: no 5xx, no silence, and every 4xx is the contract's JSON error. Throughout:
 * /healthz answers within FUZZ_HEALTHZ_MS. Afterwards: nothing in the spool's temp area, every blob file has its row and
 * every row its file, and every listing still answers 200.
 *
 * FUZZ_RUNS (default 600, about a minute) is the number of requests; `npm run fuzz` runs 6,000. FUZZ_SEED replays a run.
 */

const RUNS = Number(process.env.FUZZ_RUNS ?? 600);
const SEED = Number(process.env.FUZZ_SEED ?? 20261130);
const HEALTHZ_MS = Number(process.env.FUZZ_HEALTHZ_MS ?? 200);
const REQUEST_TIMEOUT_MS = 30_000;
const MAX_BATCH = 6;

const families: [string, (f: Fixture) => fc.Arbitrary<FuzzRequest>][] = [
  ['JSON bodies on every JSON route', jsonRequests],
  ['query strings and ids on every list and lookup', queryRequests],
  ['multipart uploads', multipartRequests],
  ['auth, content-type and expect headers', headerRequests],
  ['WebDAV methods, paths, headers and XML bodies', webdavRequests],
  ['Nextcloud door: discovery, files, chunked uploads', nextcloudRequests],
  ['raw HTTP', rawRequests],
  ['resumable uploads (tus and the IETF draft)', resumableRequests],
];

let iso: Isolation;
let relay: ChildRelay;
let fixture: Fixture;
const stats = { requests: 0, fiveHundreds: 0, byStatus: new Map<string, Map<number | string, number>>(), violations: [] as string[] };
const probe = { samples: 0, maxMs: 0, late: 0, slow: [] as number[], failures: 0 };
let prober: { stop(): Promise<void> } | undefined;

/**
 * /healthz every 50 ms, timed from a worker thread: the event loop must never stall for long whatever the requests do.
 * The worker keeps the measurement clear of this process's own work (generating and judging requests). A late answer
 * counts as a stall only when the relay's main thread itself burned that long on the CPU meanwhile (read from
 * /proc/<pid>/task/<pid>/stat): a machine too busy to schedule the relay (CI runs four test files on two cores, beside
 * whatever else runs) makes every answer late without the relay doing anything wrong, while a request that blocks the
 * event loop (the XML parser's 9 s) burns exactly the CPU it blocks for.
 */
function probeHealth(url: string, pid: number): { stop(): Promise<void> } {
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
    const { readFileSync } = require('node:fs');
    let stopping = false;
    parentPort.on('message', () => (stopping = true));
    // utime + stime of the relay's main thread, in ms (fields 14 and 15 after the command name, in clock ticks).
    const cpuMs = () => {
      try {
        const stat = readFileSync('/proc/' + workerData.pid + '/task/' + workerData.pid + '/stat', 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return ((Number(fields[11]) + Number(fields[12])) * 1000) / workerData.ticks;
      } catch {
        return Infinity;
      }
    };
    (async () => {
      while (!stopping) {
        const started = performance.now();
        const cpuBefore = cpuMs();
        const ok = await fetch(workerData.url + '/healthz', { signal: AbortSignal.timeout(10000) }).then((r) => r.status === 200, () => false);
        parentPort.postMessage({ ms: performance.now() - started, ok, cpuMs: cpuMs() - cpuBefore });
        await new Promise((r) => setTimeout(r, 50));
      }
      parentPort.close();
    })();`,
    { eval: true, workerData: { url, pid, ticks: CLOCK_TICKS } },
  );
  worker.on('message', ({ ms, ok, cpuMs }: { ms: number; ok: boolean; cpuMs: number }) => {
    probe.samples++;
    probe.maxMs = Math.max(probe.maxMs, ms);
    if (!ok) probe.failures++;
    if (ms > HEALTHZ_MS) {
      probe.late++;
      // Clock ticks are 10 ms: allow one of rounding.
      if (cpuMs >= HEALTHZ_MS - 10) probe.slow.push(Math.round(ms));
    }
  });
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return {
    async stop() {
      worker.postMessage('stop');
      await Promise.race([exited, sleep(15_000).then(() => worker.terminate())]);
    },
  };
}

// USER_HZ: 100 on every Linux this runs on (`getconf CLK_TCK`).
const CLOCK_TICKS = 100;

before(async () => {
  iso = await isolate({
    // The fuzzer sends thousands of bad tokens from one address: the failure limiter would soon answer everything
    // with 429 and the rest of the run would test nothing but the limiter.
    AUTH_MAX_FAILURES: '100000',
    PAIRING_MAX_FAILURES: '100000',
    MAX_UPLOAD_BYTES: String(1024 * 1024),
  });
  relay = await ChildRelay.start(iso.env, await freePort());
  const admin = new Client(relay.url);
  const accountId = await admin.createAccount('Fuzz');
  const phones = await Promise.all([admin.pairDevice(accountId, 'Fuzz A'), admin.pairDevice(accountId, 'Fuzz B')]);
  const assetIds: string[] = [];
  for (const phone of phones) {
    const res = await phone.upload(jpeg(5_000));
    assert.equal(res.status, 201);
    assetIds.push(res.body.id);
  }
  // WebDAV state for the generators to act on: a folder with files, and a chain of folders so deep that moving a
  // folder under it fits the destination's own path in the column but not its children's.
  const basic = `Basic ${Buffer.from(`phone:${phones[0]!.token}`).toString('base64')}`;
  for (const [method, path] of [
    ['MKCOL', '/dav/a/'],
    ['PUT', '/dav/a/IMG_1.jpg'],
    ['MKCOL', '/dav/a/b/'],
    ['PUT', '/dav/a/b/x.png'],
  ] as const) {
    const res = await rawRequest(relay.url, method, path, { Authorization: basic }, method === 'PUT' ? jpeg(3_000) : '');
    assert.ok(res && res.status < 300, `${method} ${path}: ${res?.status} ${res?.text}`);
  }
  let deep = '/dav';
  for (let i = 0; i < 4; i++) {
    deep += `/${'x'.repeat(250)}`;
    const res = await rawRequest(relay.url, 'MKCOL', `${deep}/`, { Authorization: basic });
    assert.equal(res?.status, 201, res?.text);
  }
  fixture = {
    adminToken: ADMIN_TOKEN,
    accountId,
    phones: phones.map((p) => ({ token: p.token, deviceId: p.deviceId })),
    assetIds,
    deepFolder: `${deep}/${'y'.repeat(12)}/`,
  };
  prober = probeHealth(relay.url, relay.child.pid!);
});

after(async () => {
  await prober?.stop();
  const statuses = [...stats.byStatus.entries()].map(
    ([family, counts]) =>
      `  ${family}: ${[...counts.entries()]
        .sort(([a], [b]) => String(a).localeCompare(String(b)))
        .map(([s, n]) => `${s}:${n}`)
        .join(' ')}`,
  );
  const summary = [
    `fuzz summary (seed ${SEED}, FUZZ_RUNS ${RUNS})`,
    `  requests: ${stats.requests}   answers >= 500: ${stats.fiveHundreds}   contract violations: ${stats.violations.length}`,
    '  answers by family (status:count):',
    ...statuses.map((line) => `  ${line}`),
    `  /healthz: ${probe.samples} probes, max ${Math.round(probe.maxMs)} ms, ${probe.late} later than ${HEALTHZ_MS} ms, ${probe.slow.length} of them stalled by the relay's own event loop${probe.slow.length ? ` (${probe.slow.slice(0, 10).join(', ')} ms)` : ''}, ${probe.failures} failed`,
    `  residue: ${residueSummary}`,
    // Shrinking replays a failure many times over: each distinct violation once, with how often it was seen.
    ...[...distinct(stats.violations).entries()].slice(0, 20).map(([v, seen]) => `  violation (x${seen}): ${v}`),
  ].join('\n');
  console.log(summary);
  await relay?.kill('SIGTERM');
  await iso?.drop();
});

let residueSummary = 'not checked';

function distinct(items: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1);
  return counts;
}

async function runBatch(batch: FuzzRequest[]): Promise<string[]> {
  const problems = await Promise.all(
    batch.map(async (req) => {
      const res = await send(relay.url, req, REQUEST_TIMEOUT_MS).catch((err: Error) => (req.raw ? null : err));
      stats.requests++;
      if (res instanceof Error) return `${describeRequest(req)} -> client error ${res.message}`;
      const status = res === undefined ? 'timeout' : res === null ? 'closed' : res.status;
      const counts = stats.byStatus.get(req.family) ?? new Map<number | string, number>();
      stats.byStatus.set(req.family, counts.set(status, (counts.get(status) ?? 0) + 1));
      if (res && res.status >= 500) stats.fiveHundreds++;
      const problem = judge(req, res);
      if (problem) stats.violations.push(`[${req.family}] ${problem} <- ${describeRequest(req)}`);
      return problem ? `${problem}\n  request: ${describeRequest(req)}` : null;
    }),
  );
  if (!relay.alive) return [`the relay exited:\n${relay.output.slice(-3000)}`];
  return problems.filter((p): p is string => p !== null);
}

describe('hostile requests', () => {
  const runsPerFamily = Math.max(1, Math.ceil(RUNS / families.length / ((1 + MAX_BATCH) / 2)));
  families.forEach(([name, arbitrary], i) => {
    it(`${name}: no 5xx, every 4xx the contract's JSON error`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(arbitrary(fixture), { minLength: 1, maxLength: MAX_BATCH }), async (batch) => {
          const problems = await runBatch(batch);
          assert.deepEqual(problems, [], problems.join('\n'));
        }),
        { seed: SEED + i, numRuns: runsPerFamily },
      );
    });
  });
});

describe('after the campaign', () => {
  it(`/healthz never waited ${HEALTHZ_MS} ms behind the relay's own event loop`, () => {
    assert.ok(probe.samples > 0, 'the health probe never ran');
    assert.equal(probe.failures, 0, 'a /healthz probe failed');
    assert.deepEqual(probe.slow, [], `/healthz took over ${HEALTHZ_MS} ms while the relay's main thread was busy that long`);
  });

  it('nothing left in the spool temp area, no blob file without its row, no row without its file', async () => {
    const store = new BlobStore(iso.spoolDir);
    // Early answers keep draining their request for up to 10 s before the temp file of a rejected upload is gone.
    let temp: string[] = [];
    for (let waited = 0; waited < 15_000; waited += 100) {
      temp = await readdir(store.tmpDir).catch(() => []);
      if (temp.length === 0) break;
      await sleep(100);
    }
    const files = new Set((await listFiles(store.blobsDir)).map((f) => path.basename(f)));
    const db = new pg.Client({ connectionString: iso.databaseUrl });
    await db.connect();
    const rows = new Set(
      (await db.query<{ sha256: string }>('SELECT trim(sha256) AS sha256 FROM blobs WHERE stored')).rows.map((r) => r.sha256),
    );
    const { rows: orphans } = await db.query<{ n: string }>(
      'SELECT count(*) AS n FROM assets a LEFT JOIN blobs b ON b.sha256 = a.blob_sha256 WHERE b.sha256 IS NULL',
    );
    await db.end();
    const fileWithoutRow = [...files].filter((f) => !rows.has(f));
    const rowWithoutFile = [...rows].filter((r) => !files.has(r));
    residueSummary = `${temp.length} temp files, ${files.size} blob files, ${rows.size} stored blob rows, ${fileWithoutRow.length} files without a row, ${rowWithoutFile.length} rows without a file`;
    assert.deepEqual(temp, [], 'temp files left in the spool');
    assert.deepEqual(fileWithoutRow, [], 'blob files no row names');
    assert.deepEqual(rowWithoutFile, [], 'stored blob rows whose file is missing');
    assert.equal(Number(orphans[0]!.n), 0, 'assets whose blob row is missing');
  });

  it('every listing still answers 200, page after page', async () => {
    const admin = new Client(relay.url);
    const lists = [
      [admin, '/api/v1/admin/accounts'],
      [admin, '/api/v1/admin/devices'],
      [admin, '/api/v1/admin/assets'],
      ...fixture.phones.map((p) => [new Client(relay.url, p.token), '/api/v1/assets'] as const),
    ] as const;
    for (const [client, list] of lists) {
      let cursor: string | null = null;
      do {
        const res = await client.call('GET', `${list}?limit=50${cursor ? `&cursor=${cursor}` : ''}`);
        assert.equal(res.status, 200, `${list}: ${JSON.stringify(res.body)}`);
        cursor = res.body.nextCursor;
      } while (cursor);
    }
    assert.equal((await admin.call('GET', '/api/v1/admin/status')).status, 200);
    for (const p of fixture.phones) {
      assert.equal((await new Client(relay.url, p.token).call('GET', '/api/v1/device')).status, 200);
      const basic = `Basic ${Buffer.from(`phone:${p.token}`).toString('base64')}`;
      const listing = await rawRequest(relay.url, 'PROPFIND', '/dav/', { Authorization: basic, Depth: '1' });
      assert.equal(listing?.status, 207, listing?.text.slice(0, 300));
    }
  });
});
