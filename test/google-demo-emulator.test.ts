import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, it } from 'node:test';
import { ChildRelay, freePort, killAll } from './helpers/child.ts';
import { REPO, relayCommand } from './helpers/production-command.ts';
import { isolate, type Isolation } from './helpers/harness.ts';

// Finding 7 of issue 10: demo mode took an EADDRINUSE on the emulator's port for its own emulator, and sent a squatter
// there refresh tokens and the client secret. Now the listener must prove it holds the relay's key, or start fails.

let iso: Isolation;
let dataDir: string;
before(async () => {
  iso = await isolate();
  dataDir = await mkdtemp(path.join(tmpdir(), 'photo-relay-emu-'));
});
after(async () => {
  await killAll();
  await iso.drop();
  await rm(dataDir, { recursive: true, force: true });
});

const demoEnv = (emulatorPort: number): Record<string, string> => ({
  ...iso.env,
  GOOGLE_CLIENT_ID: '',
  GOOGLE_CLIENT_SECRET: '',
  DATA_DIR: dataDir,
  DEMO_EMULATOR_PORT: String(emulatorPort),
  LOG_LEVEL: 'info',
});

/** Start the relay as `npm start` does; resolves with its output once `until` shows up in it, or once it exits. */
function run(env: Record<string, string>, role: string, until: RegExp, timeoutMs = 60_000) {
  const command = relayCommand('--role', role);
  const child = spawn(process.execPath, command.args, { cwd: REPO, env: { ...process.env, ...command.env, HOST: '127.0.0.1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise<{ code: number | null; output: string; stop(): void }>((resolve) => {
    const stop = () => child.kill('SIGKILL');
    const timer = setTimeout(stop, timeoutMs);
    const seen = (d: Buffer) => {
      output += d.toString();
      if (until.test(output)) {
        clearTimeout(timer);
        resolve({ code: null, output, stop });
      }
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', seen);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output, stop });
    });
  });
}

it('a squatter on the emulator port: start fails with a clear message, and the squatter gets no token', async () => {
  const seen: string[] = [];
  const squatter = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"proof":"trust me"}');
  });
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  const port = (squatter.address() as { port: number }).port;
  try {
    const { code, output } = await run({ ...demoEnv(port), PORT: String(await freePort()) }, 'all', /photo relay started/);
    assert.equal(code, 1, output);
    assert.match(output, new RegExp(`DEMO_EMULATOR_PORT ${port} on 127\\.0\\.0\\.1 is taken by a program that is not this relay's emulator`));
    assert.doesNotMatch(output, /photo relay started/);
    assert.ok(
      seen.every((r) => r.startsWith('GET /emulator/identity?nonce=')),
      `the squatter was asked only to prove itself: ${seen.join(', ')}`,
    );
  } finally {
    await new Promise((resolve) => squatter.close(resolve));
  }
});

it("another process of the same relay (same data directory) recognises the first one's emulator and uses it", async () => {
  const emulatorPort = await freePort();
  const env = demoEnv(emulatorPort);
  const api = await ChildRelay.start(env, await freePort());
  try {
    const worker = await run(env, 'worker', /photo relay started/);
    worker.stop();
    assert.equal(worker.code, null, worker.output);
    assert.match(worker.output, /another process of this relay runs the emulator/);
  } finally {
    await api.kill();
  }
});
