import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO } from '../../test/helpers/production-command.ts';

export { REPO };

// Every child this run started, so an interrupted run still leaves no process behind.
const children = new Set<ChildProcess>();
export function killAllChildren(): void {
  for (const child of children) if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
}
process.on('exit', killAllChildren);

/** A port nobody listens on right now (the kernel picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

// Relay settings the bench always sets itself: inherited values of these must never leak into a child.
const RELAY_ENV =
  /^(DATABASE_URL|REDIS_URL|REDIS_PREFIX|HOST|PORT|PUBLIC_URL|SPOOL_DIR|ADMIN_TOKEN|ENCRYPTION_KEY|MAX_UPLOAD_BYTES|LOG_LEVEL|STALE_TEMP_MINUTES|SWEEP_INTERVAL_MINUTES|SHUTDOWN_GRACE_SECONDS|GOOGLE_.*|RETENTION_HOURS|KEEP_ORIGINALS|DEMO_EMULATOR_PORT|TRUST_PROXY)$/;

export interface Child {
  name: string;
  pid: number;
  process: ChildProcess;
  /** The last lines the child wrote (stdout and stderr). */
  tail(): string[];
  /** Log lines at pino level warn (40) or above. */
  warnings(): string[];
  stop(): Promise<void>;
}

/** Start `node <args>` in the repository with exactly the given configuration. */
export function spawnNode(name: string, args: string[], env: Record<string, string>): Child {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !RELAY_ENV.test(k))) as Record<string, string>;
  const child = spawn(process.execPath, args, {
    cwd: REPO,
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (!child.pid) throw new Error(`${name}: spawn failed`);
  children.add(child);
  child.once('exit', () => children.delete(child));
  const lines: string[] = [];
  const warnings: string[] = [];
  const collect = (stream: NodeJS.ReadableStream) => {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (text: string) => {
      const parts = (rest + text).split('\n');
      rest = parts.pop() ?? '';
      for (const line of parts) {
        if (!line.trim()) continue;
        lines.push(line);
        if (lines.length > 200) lines.shift();
        const level = /"level":(\d+)/.exec(line)?.[1];
        if (level !== undefined && Number(level) >= 40) warnings.push(line);
      }
    });
  };
  collect(child.stdout!);
  collect(child.stderr!);
  return {
    name,
    pid: child.pid,
    process: child,
    tail: () => lines.slice(-30),
    warnings: () => warnings,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timedOut = await Promise.race([exited.then(() => false), sleep(15_000).then(() => true)]);
      if (timedOut) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** Poll `url` until it answers 200; fail early with the child's output if it dies first. */
export async function waitHttp(child: Child, url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.process.exitCode !== null)
      throw new Error(`${child.name} exited (${child.process.exitCode}) before ${url} answered:\n${child.tail().join('\n')}`);
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`${child.name}: ${url} did not answer within ${timeoutMs} ms:\n${child.tail().join('\n')}`);
}

export interface Memory {
  /** VmRSS: resident now, bytes. */
  rss: number;
  /** VmHWM: the kernel's own high-water mark of VmRSS since start or the last resetPeak(), bytes. */
  hwm: number;
}

export function readMemory(pid: number): Memory | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return null;
  }
}

/** Reset VmHWM to the current RSS (Linux: write 5 to clear_refs), so the next peak is this phase's own. */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

export interface RssSummary {
  samples: number;
  seconds: number;
  /** Bytes. */
  first: number;
  min: number;
  max: number;
  last: number;
  /** VmHWM at the end: catches a peak between two samples. */
  hwm: number;
  hwmReset: boolean;
}

/** Samples a process's VmRSS every `everyMs` from /proc. */
export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  private readonly values: number[] = [];
  private startedAt = 0;
  private hwmReset = false;

  constructor(
    readonly pid: number,
    readonly everyMs = 50,
  ) {}

  start(options: { resetPeak?: boolean } = {}): this {
    if (options.resetPeak) this.hwmReset = resetPeak(this.pid);
    this.startedAt = performance.now();
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
    return this;
  }

  private sample(): void {
    const memory = readMemory(this.pid);
    if (memory) this.values.push(memory.rss);
  }

  stop(): RssSummary {
    clearInterval(this.timer);
    this.sample();
    const memory = readMemory(this.pid);
    const v = this.values.length ? this.values : [NaN];
    return {
      samples: this.values.length,
      seconds: (performance.now() - this.startedAt) / 1000,
      first: v[0]!,
      min: Math.min(...v),
      max: Math.max(...v),
      last: v[v.length - 1]!,
      hwm: memory?.hwm ?? NaN,
      hwmReset: this.hwmReset,
    };
  }
}

/** A process's memory through one piece of work: steady before, peak during, steady again after (bytes). */
export interface RssThrough {
  before: number;
  peakSampled: number;
  hwm: number;
  hwmReset: boolean;
  peak: number;
  after: number;
  samples: number;
}

/** Run `work` while sampling `pid`'s RSS; "after" is read once the process has had 2 s to settle. */
export async function rssThrough<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; memory: RssThrough }> {
  const before = await idleRss(pid);
  const sampler = new RssSampler(pid).start({ resetPeak: true });
  const result = await work();
  const rss = sampler.stop();
  await sleep(2000);
  const after = await idleRss(pid);
  const peak = Math.max(rss.max, rss.hwm);
  return { result, memory: { before, peakSampled: rss.max, hwm: rss.hwm, hwmReset: rss.hwmReset, peak, after, samples: rss.samples } };
}

/** The steady RSS of an idle process: median of a few samples. */
export async function idleRss(pid: number, samples = 10, everyMs = 50): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < samples; i++) {
    const memory = readMemory(pid);
    if (memory) values.push(memory.rss);
    await sleep(everyMs);
  }
  values.sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)] ?? NaN;
}

/**
 * Write back every dirty page (sync(1)) before a timed run: a run that starts while gigabytes of test files or an
 * earlier run's deletions are still being written back measures that write-back, and whichever side it lands on
 * looks slow (in part c, one side's runs differed by half in the same minute).
 */
export async function settleDisk(): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    execFile('sync', (err) => (err ? reject(err) : resolve()));
  });
}
