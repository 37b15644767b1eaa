import { createHash, randomBytes } from 'node:crypto';
import { Cleanup, Client, connectDb, isolatedRelayEnv, startRelayChild, summarizeLogLine } from '../lib/relay.ts';
import { ms, ratio, verdict, type BenchContext, type PartResult } from '../lib/report.ts';

const PER_CALL = 1000;
const hashOf = (i: number, salt: string) => createHash('sha256').update(`${salt}:${i}`).digest('hex');

// The relay's own query (src/ledger/assets.ts, accountHas), run bare through pg for comparison.
const MISSING_SQL = `
  SELECT b.sha256 FROM blobs b
  WHERE b.sha256 = ANY($1::char(64)[]) AND (
    (b.stored AND (
      EXISTS (SELECT 1 FROM assets a WHERE a.blob_sha256 = b.sha256 AND a.account_id = $2::uuid)
      OR EXISTS (SELECT 1 FROM dav_entries e JOIN devices v ON v.id = e.device_id
                 WHERE e.blob_sha256 = b.sha256 AND v.account_id = $2::uuid)))
    OR EXISTS (SELECT 1 FROM deliveries d WHERE d.blob_sha256 = b.sha256 AND d.account_id = $2::uuid AND d.state = 'backed_up'))`;

/** (d) POST /api/v1/assets/check for hashes the relay holds, 1000 per call. */
export async function check(ctx: BenchContext): Promise<PartResult> {
  const total = ctx.quick ? 1000 : 10_000;
  const calls = total / PER_CALL;
  const cleanup = new Cleanup();
  try {
    const iso = await isolatedRelayEnv('http://127.0.0.1:9', cleanup);
    const relay = await startRelayChild(iso, 'api', cleanup);
    const admin = new Client(relay.url);
    const accountId = await admin.createAccount('Bench D');
    const device = await admin.pairDevice(accountId);

    // Held hashes, made fast: blob rows and this device's assets straight into the relay's database (the check
    // counts content its account holds).
    const salt = randomBytes(8).toString('hex');
    const held = Array.from({ length: total }, (_, i) => hashOf(i, salt));
    const db = await connectDb(iso, cleanup);
    await db.query(`INSERT INTO blobs (sha256, size, mime_type) SELECT h, 1000000, 'image/jpeg' FROM unnest($1::text[]) AS h`, [held]);
    await db.query(
      `INSERT INTO assets (id, device_id, account_id, blob_sha256, device_asset_id, file_name)
       SELECT gen_random_uuid(), $2::uuid, $3::uuid, h, h, 'IMG.jpg' FROM unnest($1::text[]) AS h`,
      [held, device.deviceId, accountId],
    );
    await db.query('ANALYZE blobs');
    await db.query('ANALYZE assets');
    ctx.log(`inserted ${total} blob rows`);

    const call = async (hashes: string[]) => {
      const started = performance.now();
      const res = await device.call('POST', '/api/v1/assets/check', { sha256: hashes });
      const seconds = (performance.now() - started) / 1000;
      if (res.status !== 200) throw new Error(`check answered ${res.status}: ${JSON.stringify(res.body)}`);
      return { seconds, missing: res.body.missing as string[] };
    };

    // One untimed call with other hashes first (connection, JIT, query plan cache), reported separately.
    const warm = await call(Array.from({ length: PER_CALL }, (_, i) => hashOf(i, `${salt}-warm`)));
    if (warm.missing.length !== PER_CALL) throw new Error(`warm-up: ${warm.missing.length} missing of ${PER_CALL} unknown hashes`);

    const perCall: number[] = [];
    const started = performance.now();
    for (let c = 0; c < calls; c++) {
      const { seconds, missing } = await call(held.slice(c * PER_CALL, (c + 1) * PER_CALL));
      if (missing.length !== 0) throw new Error(`call ${c}: ${missing.length} held hashes reported missing`);
      perCall.push(seconds);
    }
    const totalSeconds = (performance.now() - started) / 1000;
    const mean = perCall.reduce((a, b) => a + b, 0) / perCall.length;
    ctx.log(
      `relay: ${calls} calls in ${ms(totalSeconds)}, ${ms(mean)} per call (min ${ms(Math.min(...perCall))}, max ${ms(Math.max(...perCall))})`,
    );

    // Baseline: the same query, same hashes, same database, straight through pg (no HTTP, no JSON, no auth).
    const sqlPerCall: number[] = [];
    await db.query(MISSING_SQL, [held.slice(0, PER_CALL), accountId]);
    for (let c = 0; c < calls; c++) {
      const t = performance.now();
      const { rows } = await db.query(MISSING_SQL, [held.slice(c * PER_CALL, (c + 1) * PER_CALL), accountId]);
      sqlPerCall.push((performance.now() - t) / 1000);
      if (rows.length !== PER_CALL) throw new Error(`bare query found ${rows.length} of ${PER_CALL}`);
    }
    const sqlTotal = sqlPerCall.reduce((a, b) => a + b, 0);
    const sqlMean = sqlTotal / calls;
    ctx.log(`bare SQL: ${ms(sqlMean)} per query`);

    // Scaling probe: the same 1000 held hashes once more, with ten times as many blobs in the table.
    const grown = total * 10;
    await db.query(
      `INSERT INTO blobs (sha256, size, mime_type) SELECT encode(sha256(($1 || ':' || i)::bytea), 'hex'), 1000000, 'image/jpeg' FROM generate_series(1, $2::int) AS i`,
      [`${salt}-more`, grown - total],
    );
    await db.query('ANALYZE blobs');
    await call(held.slice(0, PER_CALL));
    const grownRelay: number[] = [];
    const grownSql: number[] = [];
    for (let c = 0; c < 3; c++) {
      const slice = held.slice((c % calls) * PER_CALL, ((c % calls) + 1) * PER_CALL);
      const { seconds, missing } = await call(slice);
      if (missing.length !== 0) throw new Error(`probe call ${c}: ${missing.length} held hashes reported missing`);
      grownRelay.push(seconds);
      const t = performance.now();
      await db.query(MISSING_SQL, [slice, accountId]);
      grownSql.push((performance.now() - t) / 1000);
    }
    const grownRelayMean = grownRelay.reduce((a, b) => a + b, 0) / grownRelay.length;
    const grownSqlMean = grownSql.reduce((a, b) => a + b, 0) / grownSql.length;
    ctx.log(`with ${grown} blobs held: relay ${ms(grownRelayMean)} per call, bare SQL ${ms(grownSqlMean)}`);
    const plan = (await db.query(`EXPLAIN ${MISSING_SQL}`, [held.slice(0, PER_CALL), accountId])).rows.map((r) =>
      (r['QUERY PLAN'] as string).replace(/'\{[^']*\}'/g, "'{…1000 hashes…}'"),
    );
    const notes: string[] = [];
    if (grownRelayMean > 3 * mean)
      notes.push(
        `a check call takes ${ms(grownRelayMean)} with ${grown} blobs held vs ${ms(mean)} with ${total}: its cost grows with the table, not with the request`,
      );
    const scan = plan.find((l) => /Seq Scan on blobs/.test(l));
    const filter = plan.find((l) => /Filter: .*= ANY/.test(l));
    if (scan) {
      // A cast on the column side (char(64) compared with text[]) is what once caused this.
      notes.push(
        `with ${grown} blobs the check query reads the whole blobs table (EXPLAIN: "${scan.trim()}"${filter ? `, "${filter.trim()}"` : ''}): ` +
          `the primary-key index on blobs.sha256 is not used, so every call costs O(blobs held)`,
      );
    }
    const warnings = relay.child.warnings();
    if (warnings.length) notes.push(`relay logged ${warnings.length} warning/error line(s), e.g. ${summarizeLogLine(warnings[0]!)}`);
    return {
      id: 'd',
      title: `check of ${total} held hashes`,
      seconds: 0,
      notes,
      rows: [
        {
          part: 'd',
          measure: `check ${total} held hashes (${calls} × ${PER_CALL}): total`,
          relay: ms(totalSeconds),
          baseline: ms(sqlTotal),
          ratio: ratio(totalSeconds / sqlTotal),
          target: '',
          verdict: '',
        },
        {
          part: 'd',
          measure: `same: per call (baseline: bare SQL query)`,
          relay: ms(mean),
          baseline: ms(sqlMean),
          ratio: ratio(mean / sqlMean),
          target: '',
          verdict: '',
        },
        {
          part: 'd',
          measure: `per call with ${grown} blobs held (×10)`,
          relay: ms(grownRelayMean),
          baseline: ms(grownSqlMean),
          ratio: ratio(grownRelayMean / grownSqlMean),
          target: `≈ ${ms(mean)} (independent of table size)`,
          verdict: verdict(grownRelayMean < 3 * mean),
        },
      ],
      data: {
        hashes: total,
        calls,
        perCall: PER_CALL,
        totalSeconds,
        perCallSeconds: perCall,
        meanPerCallSeconds: mean,
        warmUpCallSeconds: warm.seconds,
        bareSqlPerCallSeconds: sqlPerCall,
        bareSqlMeanSeconds: sqlMean,
        queryPlan: plan,
        grownBlobs: grown,
        grownPerCallSeconds: grownRelay,
        grownBareSqlSeconds: grownSql,
        relayWarnings: warnings.length,
      },
    };
  } finally {
    await cleanup.run();
  }
}
