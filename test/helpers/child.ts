import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO, relayCommand } from './production-command.ts';

/** Every child this process started, so none outlives the test whatever happens. */
const living = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of living) child.kill('SIGKILL');
});

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The relay's API role as a separate process, started as `npm start` starts it (dist/main.js, same Node flags). */
export class ChildRelay {
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
  ) {
    living.add(child);
    child.stdout?.on('data', (d: Buffer) => (this.output = (this.output + d.toString()).slice(-20_000)));
    child.stderr?.on('data', (d: Buffer) => (this.output = (this.output + d.toString()).slice(-20_000)));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        living.delete(child);
        resolve({ code, signal });
      }),
    );
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Start and wait until /readyz answers 200 (so the start-up sweep is done and the listener is up). */
  static async start(env: Record<string, string>, port: number, timeoutMs = 90_000): Promise<ChildRelay> {
    const command = relayCommand('--role', 'api');
    const child = spawn(process.execPath, command.args, {
      cwd: REPO,
      env: { ...process.env, ...command.env, HOST: '127.0.0.1', ...env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const relay = new ChildRelay(child, `http://127.0.0.1:${port}`);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!relay.alive) throw new Error(`relay exited during start-up:\n${relay.output}`);
      const ready = await fetch(`${relay.url}/readyz`, { signal: AbortSignal.timeout(5000) }).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ready) return relay;
      await sleep(50);
    }
    await relay.kill('SIGKILL');
    throw new Error(`relay not ready after ${timeoutMs} ms:\n${relay.output}`);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL') {
    if (this.alive) this.child.kill(signal);
    return this.exited;
  }
}

export async function killAll(): Promise<void> {
  await Promise.all(
    [...living].map((child) => {
      child.kill('SIGKILL');
      return new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once('exit', resolve)));
    }),
  );
}
