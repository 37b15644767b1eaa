import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertDeliveredExactlyOnce, waitDeliveriesBackedUp } from './helpers/forwarding.ts';
import { jpeg, mp4, png, sha256 } from './helpers/media.ts';
import { startRig, waitFor, type Rig } from './helpers/rig.ts';

/**
 * The Nextcloud door driven by a real Nextcloud client: nextcloudcmd (the desktop client's command-line sync)
 * syncing a camera folder, again with nothing new, and after being killed in the middle of a chunked upload.
 */

const EMAIL = 'nc@example.com';
const MB = 1024 * 1024;
let rig: Rig;
let accountId: string;
let device: { deviceId: string; token: string; nextcloudLoginUrl: string };
let work: string;
const requests: { method: string; url: string }[] = [];

before(async () => {
  rig = await startRig();
  accountId = await rig.admin.createAccount('Nextcloud user');
  await rig.link(accountId, EMAIL);
  const created = await rig.admin.call('POST', `/api/v1/admin/accounts/${accountId}/devices`, {
    name: 'Desktop sync',
    platform: 'nextcloud',
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  device = created.body;
  work = await mkdtemp(path.join(tmpdir(), 'photo-relay-nextcloud-'));
  rig.relay.handle.app.server.on('request', (req: IncomingMessage) => requests.push({ method: req.method!, url: req.url! }));
});
after(async () => {
  await rig?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

function nextcloudcmd(localDir: string, home: string): ChildProcess {
  return spawn(
    'nextcloudcmd',
    ['--non-interactive', '--max-sync-retries', '1', '-u', 'desktop-sync', '-p', device.token, localDir, rig.relay.url],
    {
      env: {
        ...process.env,
        HOME: home,
        XDG_CONFIG_HOME: path.join(home, '.config'),
        XDG_DATA_HOME: path.join(home, '.local/share'),
        QT_QPA_PLATFORM: 'offscreen',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
}

async function sync(localDir: string, home: string): Promise<{ code: number | null; output: string }> {
  const child = nextcloudcmd(localDir, home);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  return { code, output };
}

const db = () => rig.relay.services.db;
const assetsOf = (deviceId: string) => db().asset.findMany({ where: { deviceId } });
const bytesReceived = async () => (await db().device.findUniqueOrThrow({ where: { id: device.deviceId } })).bytesReceived;
const uploadsDir = () => path.join(rig.relay.config.spoolDir, 'nextcloud-uploads', device.deviceId);

const allBackedUp = (expected: number) => waitDeliveriesBackedUp(db(), expected, 120_000);

describe('nextcloudcmd against the relay', () => {
  const shas: string[] = [];
  let camera: string;
  let home: string;

  it('syncs a camera folder of 30 photos and videos, two of them chunked: 30 assets, each forwarded once', async () => {
    camera = path.join(work, 'camera');
    home = path.join(work, 'home');
    await mkdir(path.join(camera, 'DCIM/Camera'), { recursive: true });
    await mkdir(home, { recursive: true });
    for (let i = 0; i < 30; i++) {
      const bytes = i < 2 ? mp4(26 * MB + i * 1000) : i % 3 === 0 ? png(4000 + i) : i % 3 === 1 ? jpeg(3000 + i) : mp4(5000 + i);
      const ext = i < 2 || i % 3 === 2 ? 'mp4' : i % 3 === 0 ? 'png' : 'jpg';
      await writeFile(path.join(camera, 'DCIM/Camera', `IMG_${String(i).padStart(4, '0')}.${ext}`), bytes);
      shas.push(sha256(bytes));
    }
    const first = await sync(camera, home);
    assert.equal(first.code, 0, first.output.slice(-4000));
    const assets = await assetsOf(device.deviceId);
    assert.equal(assets.length, 30);
    assert.deepEqual(assets.map((a) => a.blobSha256).sort(), [...shas].sort());
    // The two large files came in chunks, assembled by a MOVE of ".file".
    assert.ok(
      requests.filter((r) => r.method === 'MOVE' && r.url.includes('/remote.php/dav/uploads/')).length >= 2,
      'chunked uploads used',
    );
    // nextcloudcmd starts at 10 MB chunks and grows them with the measured throughput: the first 26 MB file takes at
    // least two, the second at least one.
    assert.ok(requests.filter((r) => r.method === 'PUT' && r.url.includes('/remote.php/dav/uploads/')).length >= 3, 'chunks sent');
    await allBackedUp(30);
    await assertDeliveredExactlyOnce(rig, { accountId, email: EMAIL }, shas);
    assert.deepEqual(await readdir(uploadsDir()).catch(() => []), [], 'no upload folder left');
  });

  it('a second run sends nothing: no PUT, no bytes received', async () => {
    const before = await bytesReceived();
    const mark = requests.length;
    const second = await sync(camera, home);
    assert.equal(second.code, 0, second.output.slice(-4000));
    const sent = requests.slice(mark).filter((r) => r.method === 'PUT' || r.method === 'MOVE');
    assert.deepEqual(sent, []);
    assert.equal(await bytesReceived(), before);
    assert.equal((await assetsOf(device.deviceId)).length, 30);
    // Nothing was deleted locally either: the listing kept every entry.
    assert.equal((await readdir(path.join(camera, 'DCIM/Camera'))).length, 30);
  });

  it('killed during a chunked upload, it resumes on the next run without resending chunks, and yields one asset', async () => {
    const big = mp4(60 * MB);
    await writeFile(path.join(camera, 'DCIM/Camera', 'VID_BIG.mp4'), big);
    const child = nextcloudcmd(camera, home);
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const found = await waitFor(
      'a first chunk to be stored',
      async () => {
        for (const id of await readdir(uploadsDir()).catch(() => [] as string[])) {
          const chunks = (await readdir(path.join(uploadsDir(), id))).filter((n) => /^\d+$/.test(n));
          if (chunks.length > 0) return { id, chunks };
        }
        return null;
      },
      60_000,
      20,
    );
    const held = found!;
    child.kill('SIGKILL');
    await exited;
    const folder = path.join(uploadsDir(), held.id);
    const kept = await Promise.all(
      (await readdir(folder)).filter((n) => /^\d+$/.test(n)).map(async (n) => ({ name: n, ino: (await stat(path.join(folder, n))).ino })),
    );
    assert.ok(kept.length > 0, output.slice(-2000));
    const mark = requests.length;
    const rerun = await sync(camera, home);
    assert.equal(rerun.code, 0, rerun.output.slice(-4000));
    const chunkPuts = requests
      .slice(mark)
      .filter((r) => r.method === 'PUT' && r.url.includes(`/uploads/`) && r.url.includes(`/${held.id}/`));
    for (const chunk of kept) {
      assert.ok(!chunkPuts.some((r) => r.url.endsWith(`/${chunk.name}`)), `chunk ${chunk.name} was sent again`);
    }
    const mine = (await assetsOf(device.deviceId)).filter((a) => a.blobSha256 === sha256(big));
    assert.equal(mine.length, 1);
    assert.equal((await assetsOf(device.deviceId)).length, 31);
    await allBackedUp(31);
    await assertDeliveredExactlyOnce(rig, { accountId, email: EMAIL }, [...shas, sha256(big)]);
  });
});
