import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import pg from 'pg';
import { migrate, MIGRATIONS_DIR, readMigrations } from '../src/db/migrate.ts';
import { PG_ROOT } from './helpers/harness.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface MigrationRow {
  id: string;
  checksum: string;
  finished_at: Date | null;
  migration_name: string;
  logs: string | null;
  rolled_back_at: Date | null;
  started_at: Date;
  applied_steps_count: number;
}

let dir: string;
let databases: string[] = [];

function scratchDb(): string {
  const name = `pr_test_mig_${randomBytes(6).toString('hex')}`;
  databases.push(name);
  return `${PG_ROOT}/${name}`;
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

const rowsOf = (url: string) => query<MigrationRow>(url, 'SELECT * FROM "_prisma_migrations" ORDER BY migration_name');
const tables = async (url: string) =>
  (await query<{ tablename: string }>(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")).map((r) => r.tablename);

async function addMigration(name: string, sql: string): Promise<void> {
  await mkdir(path.join(dir, name), { recursive: true });
  await writeFile(path.join(dir, name, 'migration.sql'), sql);
}

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'photo-relay-migrations-'));
});
beforeEach(async () => {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'migration_lock.toml'), 'provider = "postgresql"\n');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
  const admin = new pg.Client({ connectionString: `${PG_ROOT}/postgres` });
  await admin.connect();
  for (const name of databases) await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.end();
  databases = [];
});

describe('migration runner', () => {
  it("creates the database, applies migrations in name order and records them as Prisma does", async () => {
    const first = 'CREATE TABLE first (id int PRIMARY KEY);\n';
    const second = '-- a comment, then two statements\nCREATE TABLE second (id int);\nALTER TABLE second ADD COLUMN note text;\n';
    await addMigration('20240102000000_second', second);
    await addMigration('20240101000000_first', first);
    const url = scratchDb();

    const startedBefore = new Date(Date.now() - 60_000);
    assert.deepEqual(await migrate(url, dir), ['20240101000000_first', '20240102000000_second']);
    assert.deepEqual(await tables(url), ['_prisma_migrations', 'first', 'second']);

    const rows = await rowsOf(url);
    assert.deepEqual(
      rows.map((r) => [r.migration_name, r.checksum, r.applied_steps_count, r.logs, r.rolled_back_at]),
      [
        ['20240101000000_first', sha(first), 1, null, null],
        ['20240102000000_second', sha(second), 1, null, null],
      ],
    );
    for (const row of rows) {
      assert.match(row.id, UUID);
      assert.match(row.checksum, /^[0-9a-f]{64}$/);
      assert.ok(row.started_at > startedBefore);
      assert.ok(row.finished_at && row.finished_at >= row.started_at, 'finished_at set, not before started_at');
    }
    // The columns are Prisma's own, with its types: `prisma migrate` must be able to take over this table.
    const columns = await query<{ column_name: string; data_type: string; is_nullable: string }>(
      url,
      `SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position`,
    );
    assert.deepEqual(
      columns.map((c) => [c.column_name, c.data_type, c.is_nullable]),
      [
        ['id', 'character varying', 'NO'],
        ['checksum', 'character varying', 'NO'],
        ['finished_at', 'timestamp with time zone', 'YES'],
        ['migration_name', 'character varying', 'NO'],
        ['logs', 'text', 'YES'],
        ['rolled_back_at', 'timestamp with time zone', 'YES'],
        ['started_at', 'timestamp with time zone', 'NO'],
        ['applied_steps_count', 'integer', 'NO'],
      ],
    );

    // Idempotent: a second run applies nothing and changes nothing.
    assert.deepEqual(await migrate(url, dir), []);
    assert.deepEqual(await rowsOf(url), rows);

    // A new migration is applied alone.
    await addMigration('20240103000000_third', 'CREATE TABLE third (id int);\n');
    assert.deepEqual(await migrate(url, dir), ['20240103000000_third']);
    assert.equal((await rowsOf(url)).length, 3);
  });

  it('the checksum is the SHA-256 of the file as stored, byte for byte', async () => {
    const sql = 'CREATE TABLE "ünïcode" (id int);\r\n-- CRLF line endings and non-ASCII text\r\n';
    await addMigration('20240101000000_bytes', sql);
    const [m] = await readMigrations(dir);
    assert.equal(m!.checksum, createHash('sha256').update(await readFile(path.join(dir, '20240101000000_bytes', 'migration.sql'))).digest('hex'));
    const url = scratchDb();
    await migrate(url, dir);
    assert.equal((await rowsOf(url))[0]!.checksum, m!.checksum);
  });

  it('a failing migration leaves a row with finished_at null and its logs, changes nothing, and blocks the next run', async () => {
    await addMigration('20240101000000_ok', 'CREATE TABLE ok (id int);\n');
    await addMigration('20240102000000_bad', 'CREATE TABLE half (id int);\nSELECT * FROM no_such_table;\n');
    await addMigration('20240103000000_after', 'CREATE TABLE after_bad (id int);\n');
    const url = scratchDb();

    await assert.rejects(migrate(url, dir), /no_such_table/);
    const rows = await rowsOf(url);
    assert.deepEqual(
      rows.map((r) => r.migration_name),
      ['20240101000000_ok', '20240102000000_bad'],
      'the migrations after the failed one were not attempted',
    );
    const failed = rows[1]!;
    assert.equal(failed.finished_at, null);
    assert.equal(failed.applied_steps_count, 0);
    assert.equal(failed.rolled_back_at, null);
    assert.match(failed.logs ?? '', /no_such_table/);
    assert.match(failed.id, UUID);
    assert.deepEqual(await tables(url), ['_prisma_migrations', 'ok'], 'the failed script was rolled back as a whole');

    // The next run refuses to continue, even with the script fixed, until the failure is resolved.
    await addMigration('20240102000000_bad', 'CREATE TABLE half (id int);\n');
    await assert.rejects(migrate(url, dir), /20240102000000_bad.*failed/);
    assert.equal((await rowsOf(url)).length, 2);

    // `prisma migrate resolve --rolled-back` marks the row rolled back; the fixed script then applies.
    await query(url, `UPDATE "_prisma_migrations" SET rolled_back_at = now() WHERE migration_name = '20240102000000_bad'`);
    assert.deepEqual(await migrate(url, dir), ['20240102000000_bad', '20240103000000_after']);
    assert.deepEqual(await tables(url), ['_prisma_migrations', 'after_bad', 'half', 'ok']);
  });

  it(
    // Two processes creating the database at once (api and worker started together on a fresh host) may see
    // 23505 on pg_database_datname_index rather than 42P04; neither may crash.
    'two runners started together on a new database apply each migration once',
    async () => {
      await addMigration('20240101000000_a', 'CREATE TABLE a (id int);\n');
      await addMigration('20240102000000_b', 'CREATE TABLE b (id int);\n');
      const url = scratchDb();
      const results = await Promise.allSettled([migrate(url, dir), migrate(url, dir)]);
      for (const r of results) assert.equal(r.status, 'fulfilled', r.status === 'rejected' ? String(r.reason) : '');
      const applied = results.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
      assert.deepEqual(applied.sort(), ['20240101000000_a', '20240102000000_b']);
      assert.equal((await rowsOf(url)).length, 2);
    },
  );

  it('two runners started together on an existing database apply each migration once', async () => {
    await addMigration('20240101000000_a', 'CREATE TABLE a (id int);\n');
    await addMigration('20240102000000_b', 'CREATE TABLE b (id int);\n');
    const url = scratchDb();
    await migrate(url, path.join(dir, 'none')).catch(() => {}); // creates the database only
    const [one, two] = await Promise.all([migrate(url, dir), migrate(url, dir)]);
    assert.deepEqual([...one, ...two].sort(), ['20240101000000_a', '20240102000000_b']);
    assert.equal((await rowsOf(url)).length, 2);
  });

  it("the project's own migrations apply cleanly and record their checksums", async () => {
    const url = scratchDb();
    const mine = await readMigrations(MIGRATIONS_DIR);
    assert.deepEqual(await migrate(url), mine.map((m) => m.name));
    assert.deepEqual(
      (await rowsOf(url)).map((r) => [r.migration_name, r.checksum, r.applied_steps_count, r.finished_at !== null]),
      mine.map((m) => [m.name, m.checksum, 1, true]),
    );
    assert.deepEqual(await migrate(url), []);
  });
});
