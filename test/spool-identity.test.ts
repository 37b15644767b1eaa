import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rename, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, it } from 'node:test';
import { loadConfig } from '../src/config/config.ts';
import { SPOOL_MARKER } from '../src/ingest/blob-store.ts';
import { sweepOrphanBlobs } from '../src/ingest/sweeper.ts';
import { createLogger } from '../src/ops/logger.ts';
import { createServices, closeServices } from '../src/services.ts';
import { SpoolIdentityError } from '../src/ingest/spool-identity.ts';
import { freePort } from './helpers/child.ts';
import { REPO, relayCommand } from './helpers/production-command.ts';
import { startRig, waitFor, type Rig } from './helpers/rig.ts';
import { jpeg, sha256 } from './helpers/media.ts';
import { assertDeliveredExactlyOnce, assetsOf, member, send, waitAllState } from './helpers/forwarding.ts';

let rig: Rig;
before(async () => {
  rig = await startRig();
});
after(() => rig.close());

/** Start the relay as `npm start` does, with this rig's ledger and another SPOOL_DIR; resolve with how it ended. */
async function startWithSpool(spoolDir: string): Promise<{ code: number | null; output: string }> {
  const command = relayCommand('--role', 'api');
  const child = spawn(process.execPath, command.args, {
    cwd: REPO,
    env: { ...process.env, ...command.env, ...rig.relay.iso.env, SPOOL_DIR: spoolDir, HOST: '127.0.0.1', PORT: String(await freePort()) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, output };
}

it('a start on another spool (not mounted, a typo) is refused: nothing failed or deleted, and the right spool forwards everything', async () => {
  const m = await member(rig, 'Swapped');
  await rig.admin.call('PATCH', `/api/v1/admin/accounts/${m.accountId}`, { forwarding: 'paused' });
  const photos = [jpeg(), jpeg(), jpeg()];
  for (const p of photos) await send(m.phone, p);

  const elsewhere = await mkdtemp(path.join(tmpdir(), 'photo-relay-elsewhere-'));
  // A mount point that did not mount: the directory does not exist. It must not be created.
  const unmounted = path.join(elsewhere, 'not-mounted', 'spool');
  const missing = await startWithSpool(unmounted);
  assert.equal(missing.code, 1, missing.output);
  assert.match(missing.output, /not this relay's spool/);
  assert.match(missing.output, /SPOOL_DIR/);
  await assert.rejects(stat(unmounted), { code: 'ENOENT' }, 'the spool root is not silently created');
  // An empty directory (a fresh volume, another path) is refused too.
  const empty = path.join(elsewhere, 'empty');
  await mkdir(empty);
  assert.equal((await startWithSpool(empty)).code, 1);
  // Another installation's spool (its own marker) is refused.
  const foreign = path.join(elsewhere, 'foreign');
  await mkdir(foreign);
  const { writeFile } = await import('node:fs/promises');
  await writeFile(path.join(foreign, SPOOL_MARKER), 'someone-else\n');
  const other = await startWithSpool(foreign);
  assert.equal(other.code, 1);
  assert.match(other.output, /someone-else/);

  // In-process too: services refuse before touching anything.
  const config = loadConfig({ ...rig.relay.iso.env, SPOOL_DIR: unmounted });
  await assert.rejects(createServices(config, createLogger('silent')), SpoolIdentityError);

  // Nothing was failed or declared lost, and every file is still there.
  const { db } = rig.relay.services;
  assert.equal(await db.delivery.count({ where: { accountId: m.accountId, state: 'failed' } }), 0);
  assert.equal(await db.blob.count({ where: { sha256: { in: photos.map(sha256) }, stored: false } }), 0);
  for (const p of photos) assert.ok(await rig.relay.services.blobs.has(sha256(p)));

  await rig.admin.call('PATCH', `/api/v1/admin/accounts/${m.accountId}`, { forwarding: 'active' });
  await waitAllState(rig, m.accountId, 'backed_up', 30_000, photos.length);
  await assertDeliveredExactlyOnce(rig, m, photos.map(sha256));
});

it('a spool that goes away while running holds deliveries (never fails them), the sweeper touches nothing, and forwarding resumes when it returns', async () => {
  const m = await member(rig, 'Unmounted');
  await rig.admin.call('PATCH', `/api/v1/admin/accounts/${m.accountId}`, { forwarding: 'paused' });
  const photos = [jpeg(), jpeg()];
  for (const p of photos) await send(m.phone, p);
  const { blobs, db } = rig.relay.services;

  // The volume disappears (an NFS hiccup, an unmount): every file looks missing at once.
  const away = `${blobs.root}.away`;
  await rename(blobs.root, away);
  try {
    await rig.admin.call('PATCH', `/api/v1/admin/accounts/${m.accountId}`, { forwarding: 'active' });
    await waitFor('the worker to look and wait', async () => {
      const assets = await assetsOf(rig, m.accountId);
      return assets.every((a) => a.lastError?.includes('cannot see its spool')) ? assets : null;
    });
    assert.deepEqual((await sweepOrphanBlobs(rig.relay.services)), { removed: 0, readopted: 0 });
    assert.equal(await db.delivery.count({ where: { accountId: m.accountId, state: 'failed' } }), 0);
    assert.equal(await db.blob.count({ where: { sha256: { in: photos.map(sha256) }, stored: false } }), 0);
  } finally {
    await rename(away, blobs.root);
  }
  await waitAllState(rig, m.accountId, 'backed_up', 30_000, photos.length);
  await assertDeliveredExactlyOnce(rig, m, photos.map(sha256));
});

it('the sweeper re-adopts an intact file the ledger had as missing, and never deletes a file a row names', async () => {
  const m = await member(rig, 'Readopt', { link: false });
  const intact = jpeg();
  const damaged = jpeg();
  for (const p of [intact, damaged]) await send(m.phone, p);
  const { blobs, db } = rig.relay.services;
  // What a worker on an unverified spool used to do: the rows say "not stored" though the files are here.
  await db.blob.updateMany({ where: { sha256: { in: [sha256(intact), sha256(damaged)] } }, data: { stored: false } });
  const { writeFile } = await import('node:fs/promises');
  await writeFile(blobs.pathOf(sha256(damaged)), Buffer.from('not the bytes this name promises'));

  const swept = await sweepOrphanBlobs(rig.relay.services);
  assert.equal(swept.readopted, 1);
  assert.equal(swept.removed, 0);
  assert.equal((await db.blob.findUniqueOrThrow({ where: { sha256: sha256(intact) } })).stored, true);
  assert.equal((await db.blob.findUniqueOrThrow({ where: { sha256: sha256(damaged) } })).stored, false);
  assert.ok(await blobs.has(sha256(damaged)), 'a file a row names is not deleted by the sweeper');
  assert.equal((await readFile(blobs.pathOf(sha256(intact)))).equals(intact), true);
});

it('a fresh spool gets an identity that the ledger records; the same spool starts again', async () => {
  const { blobs, ledger } = rig.relay.services;
  const marker = (await readFile(path.join(blobs.root, SPOOL_MARKER), 'utf8')).trim();
  assert.equal(await ledger.settings.get('spool_id'), marker);
  const again = await createServices(loadConfig(rig.relay.iso.env), createLogger('silent'));
  assert.equal(again.blobs.identity, marker);
  await closeServices(again);
});
