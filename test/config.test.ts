import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../src/config/config.ts';

const KEY = Buffer.alloc(32, 0xab);
const TOKEN = 'a-long-enough-admin-token-0123456789';
/** The least a relay needs outside demo mode. */
const REAL = {
  GOOGLE_CLIENT_ID: 'client.apps.googleusercontent.com',
  GOOGLE_CLIENT_SECRET: 'secret',
  ADMIN_TOKEN: TOKEN,
  ENCRYPTION_KEY: KEY.toString('base64'),
};

function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.ok(err.message.startsWith('Invalid configuration:'));
    for (const p of err.problems) assert.ok(err.message.includes(p), 'every problem is in the message');
    return err.problems;
  }
  return [];
}

describe('loadConfig defaults', () => {
  it('an empty environment is a demo-mode relay with the documented defaults', () => {
    const c = loadConfig({});
    assert.equal(c.demoMode, true);
    assert.equal(c.databaseUrl, 'postgresql://postgres@127.0.0.1:5432/photo_relay');
    assert.equal(c.redisUrl, 'redis://127.0.0.1:6379');
    assert.equal(c.redisPrefix, 'photo-relay');
    assert.equal(c.host, '0.0.0.0');
    assert.equal(c.port, 8080);
    assert.equal(c.publicUrl, 'http://localhost:8080');
    assert.equal(c.spoolDir, path.resolve('data/spool'));
    assert.equal(c.adminToken, undefined);
    assert.equal(c.encryptionKey, undefined);
    assert.equal(c.maxUploadBytes, 20 * 1024 ** 3);
    assert.equal(c.logLevel, 'info');
    assert.equal(c.staleTempMs, 15 * 60_000);
    assert.equal(c.sweepIntervalMs, 10 * 60_000);
    assert.equal(c.shutdownGraceMs, 30_000);
    assert.equal(c.trustProxy, false);
    assert.equal(c.pairingMaxFailures, 10);
    assert.equal(c.authMaxFailures, 50);
    assert.equal(c.google.dailyRequestLimit, 10_000);
    assert.equal(c.google.appStatus, 'production');
    assert.equal(c.retentionHours, 24);
    assert.equal(c.keepOriginals, false);
    assert.deepEqual(c.resumable, { ttlMs: 24 * 3600_000, maxOpenPerDevice: 100, maxAppendBytes: 64 * 1024 * 1024, minFreeBytes: 0 });
    // Demo mode forwards to the bundled emulator on 127.0.0.1, never to Google.
    for (const url of [c.google.photosApiUrl, c.google.authUrl, c.google.tokenUrl, c.google.revokeUrl]) {
      assert.match(url, /^http:\/\/127\.0\.0\.1:8090(\/|$)/);
    }
  });

  it("outside demo mode the Google endpoints default to Google's", () => {
    const c = loadConfig(REAL);
    assert.equal(c.demoMode, false);
    assert.equal(c.google.photosApiUrl, 'https://photoslibrary.googleapis.com');
    assert.equal(c.google.authUrl, 'https://accounts.google.com/o/oauth2/v2/auth');
    assert.equal(c.google.tokenUrl, 'https://oauth2.googleapis.com/token');
    assert.equal(c.google.revokeUrl, 'https://oauth2.googleapis.com/revoke');
    assert.deepEqual(c.encryptionKey, KEY);
    assert.equal(c.adminToken, TOKEN);
  });

  it('parses what it is given: trimmed, empty means unset, trailing slashes dropped', () => {
    const c = loadConfig({
      ...REAL,
      PORT: ' 9000 ',
      MAX_UPLOAD_BYTES: '1048576',
      STALE_TEMP_MINUTES: '0',
      SHUTDOWN_GRACE_SECONDS: '5',
      TRUST_PROXY: 'yes',
      KEEP_ORIGINALS: '1',
      LOG_LEVEL: 'silent',
      SPOOL_DIR: '/var/spool/relay',
      REDIS_PREFIX: 'relay-2.test_x',
      GOOGLE_PHOTOS_API_URL: 'http://127.0.0.1:9999/',
      HOST: '',
      ENCRYPTION_KEY: KEY.toString('base64').replace(/=+$/, ''), // padding is optional
      RESUMABLE_UPLOAD_TTL_SECONDS: '90',
      RESUMABLE_MAX_OPEN_PER_DEVICE: '3',
      RESUMABLE_MAX_APPEND_BYTES: '8388608',
      RESUMABLE_MIN_FREE_BYTES: '1073741824',
      FORWARD_MAX_CONCURRENCY: '32',
      FORWARD_ADAPTIVE_CONCURRENCY: 'false',
    });
    assert.deepEqual(c.forwarding, { maxConcurrency: 32, adaptiveConcurrency: false });
    assert.deepEqual(c.resumable, { ttlMs: 90_000, maxOpenPerDevice: 3, maxAppendBytes: 8 * 1024 * 1024, minFreeBytes: 1024 ** 3 });
    assert.equal(c.port, 9000);
    assert.equal(c.publicUrl, 'http://localhost:9000', 'the default public URL follows the port');
    assert.equal(c.maxUploadBytes, 1_048_576);
    assert.equal(c.staleTempMs, 0);
    assert.equal(c.shutdownGraceMs, 5000);
    assert.equal(c.trustProxy, true);
    assert.equal(c.keepOriginals, true);
    assert.equal(c.logLevel, 'silent');
    assert.equal(c.spoolDir, '/var/spool/relay');
    assert.equal(c.redisPrefix, 'relay-2.test_x');
    assert.equal(c.google.photosApiUrl, 'http://127.0.0.1:9999');
    assert.equal(c.host, '0.0.0.0');
    assert.deepEqual(c.encryptionKey, KEY);
    assert.equal(loadConfig({ ...REAL, PUBLIC_URL: 'https://photos.example.org//' }).publicUrl, 'https://photos.example.org');
    assert.equal(loadConfig({ ...REAL, TRUST_PROXY: 'No' }).trustProxy, false);
  });
});

describe('loadConfig validation', () => {
  it('reports every bad value together, in one ConfigError', () => {
    const bad = {
      PORT: 'eighty',
      DATABASE_URL: 'mysql://localhost/relay',
      REDIS_URL: 'not a url',
      REDIS_PREFIX: 'has:colon',
      PUBLIC_URL: 'ftp://example.org',
      ENCRYPTION_KEY: 'dG9vIHNob3J0', // "too short"
      MAX_UPLOAD_BYTES: '0',
      LOG_LEVEL: 'loud',
      STALE_TEMP_MINUTES: '1.5',
      SWEEP_INTERVAL_MINUTES: '0',
      SHUTDOWN_GRACE_SECONDS: '-1',
      TRUST_PROXY: 'maybe',
      PAIRING_MAX_FAILURES: '1e3',
      AUTH_MAX_FAILURES: '0x10',
      GOOGLE_PHOTOS_API_URL: 'photoslibrary.googleapis.com',
      GOOGLE_DAILY_REQUEST_LIMIT: '0',
      GOOGLE_APP_STATUS: 'beta',
      RETENTION_HOURS: 'a day',
      KEEP_ORIGINALS: 'sometimes',
      ADMIN_TOKEN: 'short',
      RESUMABLE_UPLOAD_TTL_SECONDS: '0',
      RESUMABLE_MAX_OPEN_PER_DEVICE: 'many',
      RESUMABLE_MAX_APPEND_BYTES: '65535',
      RESUMABLE_MIN_FREE_BYTES: '-1',
      FORWARD_MAX_CONCURRENCY: '0',
      FORWARD_ADAPTIVE_CONCURRENCY: 'sometimes',
    };
    const problems = problemsOf(bad);
    for (const name of Object.keys(bad)) {
      assert.equal(problems.filter((p) => p.startsWith(`${name} `)).length, 1, `${name} reported once in:\n${problems.join('\n')}`);
    }
    assert.equal(problems.length, Object.keys(bad).length, problems.join('\n'));
    // The value is echoed where that helps, never a secret's.
    assert.ok(problems.some((p) => p.includes('"eighty"')));
    assert.ok(!problems.some((p) => p.includes('dG9vIHNob3J0')), 'the encryption key must not be echoed');
    assert.ok(!problems.some((p) => p.includes('"short"')), 'the admin token must not be echoed');
  });

  it('range limits hold at their edges', () => {
    assert.deepEqual(problemsOf({ PORT: '65535', SHUTDOWN_GRACE_SECONDS: '3600', MAX_UPLOAD_BYTES: '1' }), []);
    assert.equal(problemsOf({ PORT: '65536' }).length, 1);
    assert.equal(problemsOf({ SHUTDOWN_GRACE_SECONDS: '3601' }).length, 1);
    assert.equal(problemsOf({ MAX_UPLOAD_BYTES: String(Number.MAX_SAFE_INTEGER + 2) }).length, 1);
  });

  it('outside demo mode ADMIN_TOKEN, ENCRYPTION_KEY and GOOGLE_CLIENT_SECRET are required', () => {
    const problems = problemsOf({ GOOGLE_CLIENT_ID: REAL.GOOGLE_CLIENT_ID });
    assert.equal(problems.length, 3, problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('GOOGLE_CLIENT_SECRET ')));
    assert.ok(problems.some((p) => p.startsWith('ADMIN_TOKEN ')));
    assert.ok(problems.some((p) => p.startsWith('ENCRYPTION_KEY ')));
    for (const missing of ['GOOGLE_CLIENT_SECRET', 'ADMIN_TOKEN', 'ENCRYPTION_KEY'] as const) {
      const only = problemsOf({ ...REAL, [missing]: '' });
      assert.equal(only.length, 1, only.join('\n'));
      assert.ok(only[0]!.startsWith(`${missing} `));
    }
    // Blank counts as missing; a malformed key is reported as malformed (today also as missing).
    assert.equal(problemsOf({ ...REAL, ADMIN_TOKEN: '   ' }).length, 1);
    const badKey = problemsOf({ ...REAL, ENCRYPTION_KEY: Buffer.alloc(31).toString('base64') });
    assert.ok(badKey.every((p) => p.startsWith('ENCRYPTION_KEY ')), badKey.join('\n'));
    assert.ok(badKey.some((p) => p.includes('32 bytes')), badKey.join('\n'));
  });

  it('in demo mode none of them is required', () => {
    const c = loadConfig({ GOOGLE_CLIENT_SECRET: '', ADMIN_TOKEN: '', ENCRYPTION_KEY: '' });
    assert.equal(c.demoMode, true);
  });

  it('the encryption key must be exactly 32 bytes of standard base64', () => {
    assert.equal(problemsOf({ ENCRYPTION_KEY: Buffer.alloc(33).toString('base64') }).length, 1);
    assert.equal(problemsOf({ ENCRYPTION_KEY: 'not base64 at all, but long enough to be 32 bytes!!' }).length, 1);
    assert.equal(problemsOf({ ENCRYPTION_KEY: Buffer.alloc(32, 0xfb).toString('base64url') }).length, 1);
    assert.deepEqual(loadConfig({ ENCRYPTION_KEY: ` ${KEY.toString('base64')}\n` }).encryptionKey, KEY);
  });
});

import { it as itAlso } from 'node:test';
import assertAlso from 'node:assert/strict';
import { ConfigError as ConfigErrorAlso, loadConfig as loadConfigAlso } from '../src/config/config.ts';

itAlso('refuses a client secret without a client id, and reports a malformed ENCRYPTION_KEY once', () => {
  let problems: string[] = [];
  try {
    loadConfigAlso({ GOOGLE_CLIENT_SECRET: 's' });
  } catch (err) {
    problems = (err as InstanceType<typeof ConfigErrorAlso>).problems;
  }
  assertAlso.ok(problems.some((p) => p.startsWith('GOOGLE_CLIENT_SECRET is set but GOOGLE_CLIENT_ID is not')));
  try {
    loadConfigAlso({ GOOGLE_CLIENT_ID: 'id', GOOGLE_CLIENT_SECRET: 's', ADMIN_TOKEN: 'x'.repeat(40), ENCRYPTION_KEY: 'short' });
    assertAlso.fail('expected a ConfigError');
  } catch (err) {
    assertAlso.equal((err as InstanceType<typeof ConfigErrorAlso>).problems.filter((p) => p.includes('ENCRYPTION_KEY')).length, 1);
  }
});

import { chmod, chown, mkdir as mkdirP, mkdtemp, readdir, readFile as readFileP, rm, stat, symlink, writeFile as writeFileP } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { fillDemoSecrets } from '../src/config/demo-secrets.ts';
import { StartRefused } from '../src/ops/start-refused.ts';

describe('one data directory (DATA_DIR)', () => {
  it('the spool and the demo secrets live under DATA_DIR (default ./data); SPOOL_DIR still overrides the spool', () => {
    const c = loadConfig({});
    assert.equal(c.dataDir, path.resolve('data'));
    assert.equal(c.spoolDir, path.resolve('data/spool'));
    const d = loadConfig({ DATA_DIR: '/srv/relay' });
    assert.equal(d.dataDir, '/srv/relay');
    assert.equal(d.spoolDir, '/srv/relay/spool');
    assert.equal(loadConfig({ DATA_DIR: '/srv/relay', SPOOL_DIR: '/mnt/big/spool' }).spoolDir, '/mnt/big/spool');
  });

  it('ACCEPT_GOOGLE_CLIENT_CHANGE is off unless set; a GOOGLE_CLIENT_ID cannot pass for the ledger\'s "(demo)"', () => {
    assert.equal(loadConfig({}).acceptGoogleClientChange, false);
    assert.equal(loadConfig({ ACCEPT_GOOGLE_CLIENT_CHANGE: 'true' }).acceptGoogleClientChange, true);
    const problems = problemsOf({ ...REAL, GOOGLE_CLIENT_ID: '(demo)' });
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.ok(problems[0]!.startsWith('GOOGLE_CLIENT_ID '));
  });
});

describe('demo secrets (finding 15 of issue 10)', () => {
  const withDir = async (run: (dir: string) => Promise<void>) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'photo-relay-secrets-'));
    try {
      await run(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
  const demo = (dir: string, env: Record<string, string> = {}) => loadConfig({ DATA_DIR: dir, ...env });
  const refused = (pattern: RegExp) => (err: Error) => err instanceof StartRefused && pattern.test(err.message);

  it('are generated in DATA_DIR/secrets (0600, in a 0700 folder), never beside a SPOOL_DIR elsewhere, and read back on restart', () =>
    withDir(async (dir) => {
      const spoolElsewhere = path.join(dir, 'elsewhere', 'x');
      const first = await fillDemoSecrets(demo(path.join(dir, 'data'), { SPOOL_DIR: spoolElsewhere }));
      assert.equal(first.adminTokenFile, path.join(dir, 'data', 'secrets', 'admin-token'));
      assert.equal((await stat(first.adminTokenFile!)).mode & 0o777, 0o600);
      assert.equal((await stat(path.join(dir, 'data', 'secrets'))).mode & 0o777, 0o700);
      assert.equal((await stat(path.join(dir, 'data', 'secrets', 'encryption-key'))).mode & 0o777, 0o600);
      await assert.rejects(stat(path.join(dir, 'elsewhere', 'secrets')), { code: 'ENOENT' });
      const again = await fillDemoSecrets(demo(path.join(dir, 'data')));
      assert.equal(again.config.adminToken, first.config.adminToken);
      assert.deepEqual(again.config.encryptionKey, first.config.encryptionKey);
      assert.ok(first.config.adminToken!.length >= 32);
    }));

  it('processes starting together agree on one secret and never read a half-written file', () =>
    withDir(async (dir) => {
      const all = await Promise.all(Array.from({ length: 8 }, () => fillDemoSecrets(demo(dir))));
      assert.equal(new Set(all.map((r) => r.config.adminToken)).size, 1);
      assert.equal(new Set(all.map((r) => r.config.encryptionKey!.toString('hex'))).size, 1);
      assert.deepEqual((await readdir(path.join(dir, 'secrets'))).sort(), ['admin-token', 'encryption-key'], 'no temp files left');
    }));

  it('a token file with mode 0644 is refused, with what to do', () =>
    withDir(async (dir) => {
      await fillDemoSecrets(demo(dir));
      const file = path.join(dir, 'secrets', 'admin-token');
      await chmod(file, 0o644);
      await assert.rejects(fillDemoSecrets(demo(dir)), refused(/admin-token has mode 0644; a secret must be 0600/));
      // The encryption key file is held to the same rule.
      await chmod(file, 0o600);
      await chmod(path.join(dir, 'secrets', 'encryption-key'), 0o640);
      await assert.rejects(fillDemoSecrets(demo(dir)), refused(/encryption-key has mode 0640/));
    }));

  it('a token file shorter than 32 characters is refused', () =>
    withDir(async (dir) => {
      await mkdirP(path.join(dir, 'secrets'), { mode: 0o700 });
      const file = path.join(dir, 'secrets', 'admin-token');
      await writeFileP(file, 'short-token-0123456789\n', { mode: 0o600 });
      await assert.rejects(fillDemoSecrets(demo(dir)), refused(/fewer than 32 characters/));
      assert.equal(await readFileP(file, 'utf8'), 'short-token-0123456789\n', 'left as it was for the admin to look at');
    }));

  it("a token file that is not the process owner's, or a symlink, is refused", () =>
    withDir(async (dir) => {
      await fillDemoSecrets(demo(dir));
      const file = path.join(dir, 'secrets', 'admin-token');
      if (process.getuid?.() === 0) {
        await chown(file, 4242, 4242);
        await assert.rejects(fillDemoSecrets(demo(dir)), refused(/belongs to user 4242/));
        await chown(file, 0, 0);
      }
      const real = path.join(dir, 'elsewhere-token');
      await writeFileP(real, 'x'.repeat(40), { mode: 0o600 });
      await rm(file);
      await symlink(real, file);
      await assert.rejects(fillDemoSecrets(demo(dir)), refused(/is a symbolic link/));
    }));

  it('outside demo mode nothing is read or written', () =>
    withDir(async (dir) => {
      const c = loadConfig({ ...REAL, DATA_DIR: dir });
      assert.equal((await fillDemoSecrets(c)).config, c);
      await assert.rejects(stat(path.join(dir, 'secrets')), { code: 'ENOENT' });
    }));
});
