import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ChildRelay, freePort, killAll } from './helpers/child.ts';
import { REPO, relayCommand } from './helpers/production-command.ts';
import { startRelay, type TestRelay } from './helpers/harness.ts';
import { startRig, type Rig } from './helpers/rig.ts';
import { Client } from './helpers/client.ts';
import { uniqueEmail } from './helpers/forwarding.ts';
import { guardGoogleClient } from '../src/google/client-guard.ts';
import { StartRefused } from '../src/ops/start-refused.ts';
import { TokenCipher } from '../src/google/token-cipher.ts';
import { newId } from '../src/db/ids.ts';
import type { Services } from '../src/services.ts';

// Finding 2 of issue 10: a start without GOOGLE_CLIENT_ID on a ledger linked to Google used to be demo mode, which
// re-linked every account to the in-memory emulator. Now every link records its OAuth client and start-up refuses
// another one (or demo mode) unless ACCEPT_GOOGLE_CLIENT_CHANGE says so.

const CLIENT_ID = 'household-0123.apps.googleusercontent.com';
const CLIENT_SECRET = 'household-secret';

after(() => killAll());

/** Run the relay exactly as `npm start` does until it exits (or `timeoutMs` passes); its output and exit code. */
async function runToExit(env: Record<string, string>, timeoutMs = 60_000): Promise<{ code: number | null; output: string }> {
  const command = relayCommand();
  const child = spawn(process.execPath, command.args, {
    cwd: REPO,
    env: { ...process.env, ...command.env, HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, output };
}

describe('a ledger linked through a Google client, started without GOOGLE_CLIENT_ID', () => {
  let rig: Rig;
  let dataDir: string;
  let accountId: string;
  let email: string;
  let linked: { googleRefreshToken: Uint8Array | null; googleLinkedAt: Date | null };

  before(async () => {
    rig = await startRig({
      worker: false,
      emulator: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
      env: { GOOGLE_CLIENT_ID: CLIENT_ID, GOOGLE_CLIENT_SECRET: CLIENT_SECRET },
    });
    dataDir = await mkdtemp(path.join(tmpdir(), 'photo-relay-guard-'));
    accountId = await rig.admin.createAccount('Alice');
    email = uniqueEmail('alice');
    await rig.link(accountId, email);
    linked = await rig.relay.services.db.account.findUniqueOrThrow({ where: { id: accountId } });
    assert.equal((await rig.relay.services.db.account.findUniqueOrThrow({ where: { id: accountId } })).googleClientId, CLIENT_ID);
  });
  after(async () => {
    await rig.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** The same ledger, Redis prefix and spool, but the Google client forgotten: demo mode. */
  const demoEnv = async (extra: Record<string, string> = {}) => ({
    ...rig.relay.iso.env,
    GOOGLE_CLIENT_ID: '',
    GOOGLE_CLIENT_SECRET: '',
    DATA_DIR: dataDir,
    DEMO_EMULATOR_PORT: String(await freePort()),
    PORT: String(await freePort()),
    LOG_LEVEL: 'info',
    ...extra,
  });

  it('start refuses (non-zero exit, names the variable to set) and the tokens are unchanged', async () => {
    const { code, output } = await runToExit(await demoEnv());
    assert.notEqual(code, 0, output);
    assert.match(output, new RegExp(`GOOGLE_CLIENT_ID=${CLIENT_ID.replace(/\./g, '\\.')}`));
    assert.match(output, /ACCEPT_GOOGLE_CLIENT_CHANGE=true/);
    assert.doesNotMatch(output, /photo relay started/);
    const row = await rig.relay.services.db.account.findUniqueOrThrow({ where: { id: accountId } });
    assert.equal(row.googleStatus, 'linked');
    assert.equal(row.googleEmail, email);
    assert.equal(row.googleClientId, CLIENT_ID);
    assert.deepEqual(row.googleRefreshToken, linked.googleRefreshToken, 'the refresh token is untouched');
    assert.deepEqual(row.googleLinkedAt, linked.googleLinkedAt);
  });

  it('with ACCEPT_GOOGLE_CLIENT_CHANGE=true it starts, and the account shows needs_reauth, not re-linked', async () => {
    const env = await demoEnv({ ACCEPT_GOOGLE_CLIENT_CHANGE: 'true' });
    const child = await ChildRelay.start(env, Number(env.PORT));
    try {
      const view = await new Client(child.url).call('GET', `/api/v1/admin/accounts/${accountId}`);
      assert.equal(view.status, 200);
      assert.equal(view.body.google.status, 'needs_reauth');
      assert.equal(view.body.google.email, email, 'still the real Google account, not a demo one');
      assert.match(view.body.google.error, /link the account again/);
      const row = await rig.relay.services.db.account.findUniqueOrThrow({ where: { id: accountId } });
      assert.deepEqual(row.googleRefreshToken, linked.googleRefreshToken, 'nothing was re-linked');
      assert.equal(row.googleClientId, CLIENT_ID);
    } finally {
      await child.kill();
    }
  });
});

describe('demo mode on a fresh database', () => {
  let dataDir: string;
  let env: Record<string, string>;
  let relay: TestRelay;

  before(async () => {
    // Only for its isolated database, Redis prefix and spool; the relay under test is the child below.
    relay = await startRelay();
    dataDir = await mkdtemp(path.join(tmpdir(), 'photo-relay-demo-'));
    env = {
      ...relay.iso.env,
      GOOGLE_CLIENT_ID: '',
      GOOGLE_CLIENT_SECRET: '',
      ENCRYPTION_KEY: '',
      DATA_DIR: dataDir,
      DEMO_EMULATOR_PORT: String(await freePort()),
    };
  });
  after(async () => {
    await relay.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('starts, links the accounts it creates, and after a restart links them again — only those', async () => {
    const port = await freePort();
    let child = await ChildRelay.start(env, port);
    const admin = new Client(child.url);
    const created = await admin.call('POST', '/api/v1/admin/accounts', { name: 'Demo Dana' });
    assert.equal(created.status, 201);
    assert.equal(created.body.google.status, 'linked');
    assert.match(created.body.google.email, /@demo\.photo-relay\.invalid$/);
    const { db } = relay.services;
    assert.equal((await db.account.findUniqueOrThrow({ where: { id: created.body.id } })).googleClientId, '(demo)');
    // An account created by a relay with a real Google client (never linked yet): not demo mode's to link.
    const outsider = newId();
    await db.account.create({ data: { id: outsider, name: 'Made with a real client' } });
    await child.kill();

    const before = await db.account.findUniqueOrThrow({ where: { id: created.body.id } });
    child = await ChildRelay.start(env, port);
    try {
      const after = await db.account.findUniqueOrThrow({ where: { id: created.body.id } });
      assert.equal(after.googleStatus, 'linked');
      assert.ok(after.googleLinkedAt! > before.googleLinkedAt!, 'linked again to the new, empty emulator');
      const other = await db.account.findUniqueOrThrow({ where: { id: outsider } });
      assert.equal(other.googleStatus, 'unlinked');
      assert.equal(other.googleRefreshToken, null);
      assert.equal(other.googleClientId, null);
    } finally {
      await child.kill();
    }
  });
});

describe('guardGoogleClient', () => {
  let relay: TestRelay;
  let cipher: TokenCipher;
  before(async () => {
    relay = await startRelay({ GOOGLE_CLIENT_ID: CLIENT_ID });
    cipher = new TokenCipher(relay.config.encryptionKey!);
  });
  after(() => relay.close());

  const as = (config: Partial<Services['config']>): Services => ({ ...relay.services, config: { ...relay.services.config, ...config } });
  const demo = () => as({ demoMode: true, google: { ...relay.config.google, clientId: undefined } });

  async function linkedAccount(clientId: string | null, status: 'linked' | 'needs_reauth' = 'linked', email = 'someone@example.com') {
    const id = newId();
    await relay.services.db.account.create({
      data: {
        id,
        name: `acct-${id.slice(-4)}`,
        googleStatus: status,
        googleEmail: email,
        googleLinkedAt: new Date(),
        googleClientId: clientId,
        googleRefreshToken: new Uint8Array(cipher.seal('1//refresh', id)),
      },
    });
    return id;
  }
  const clear = () => relay.services.db.account.deleteMany({});

  it('links made before clients were recorded are adopted by a configured client, refused by demo mode', async () => {
    await clear();
    const legacy = await linkedAccount(null);
    await assert.rejects(guardGoogleClient(demo()), (err: Error) => err instanceof StartRefused && /GOOGLE_CLIENT_ID/.test(err.message));
    assert.equal((await relay.services.db.account.findUniqueOrThrow({ where: { id: legacy } })).googleClientId, null, 'demo mode adopts nothing');
    await guardGoogleClient(relay.services);
    assert.equal((await relay.services.db.account.findUniqueOrThrow({ where: { id: legacy } })).googleClientId, CLIENT_ID);
  });

  it('demo links refuse a start with a Google client, saying how to keep demo mode or accept the change', async () => {
    await clear();
    await linkedAccount('(demo)', 'linked', 'x-abc123@demo.photo-relay.invalid');
    await assert.rejects(
      guardGoogleClient(relay.services),
      (err: Error) => err instanceof StartRefused && /demo mode/.test(err.message) && /unset GOOGLE_CLIENT_ID/.test(err.message) && /ACCEPT_GOOGLE_CLIENT_CHANGE/.test(err.message),
    );
    await guardGoogleClient(demo());
  });

  it('another Google client refuses the start; accepted, its live links go to needs_reauth; broken links do not block', async () => {
    await clear();
    const foreign = await linkedAccount('old-client.apps.googleusercontent.com');
    const broken = await linkedAccount('old-client.apps.googleusercontent.com', 'needs_reauth');
    const mine = await linkedAccount(CLIENT_ID);
    await assert.rejects(guardGoogleClient(relay.services), (err: Error) => /GOOGLE_CLIENT_ID=old-client\.apps\.googleusercontent\.com/.test(err.message));
    await guardGoogleClient(as({ acceptGoogleClientChange: true }));
    const rows = new Map((await relay.services.db.account.findMany()).map((a) => [a.id, a]));
    assert.equal(rows.get(foreign)!.googleStatus, 'needs_reauth');
    assert.ok(rows.get(foreign)!.googleRefreshToken, 'kept, not forgotten');
    assert.equal(rows.get(broken)!.googleStatus, 'needs_reauth');
    assert.equal(rows.get(mine)!.googleStatus, 'linked');
    // Accepted once: the next start, without the setting, goes ahead.
    await guardGoogleClient(relay.services);
  });
});
