import { readdirSync, readFileSync } from 'node:fs';

/** Linux's clock ticks per second for /proc times (USER_HZ): 100 on every architecture Node runs on. */
const TICKS = 100;

/**
 * CPU seconds (user + system) a process or thread has used, from its /proc folder (`/proc/<pid>` or
 * `/proc/<pid>/task/<tid>`), exited children not counted; NaN when it is gone.
 */
function cpuSeconds(dir: string): number {
  try {
    const stat = readFileSync(`${dir}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: fields count from after its closing one.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return NaN;
  }
}

/** CPU seconds of a process's threads, summed by thread name (main thread, libuv's pool, V8's helpers). */
function threadCpu(pid: number): Map<string, number> {
  const byName = new Map<string, number>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return byName;
  }
  for (const tid of tids) {
    const dir = `/proc/${pid}/task/${tid}`;
    const cpu = cpuSeconds(dir);
    let name: string;
    try {
      name = tid === String(pid) ? 'main' : readFileSync(`${dir}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    if (Number.isFinite(cpu)) byName.set(name, (byName.get(name) ?? 0) + cpu);
  }
  return byName;
}

/** The pids whose command name is `name` (e.g. every Postgres backend and helper). */
function pidsNamed(name: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === name) pids.push(Number(entry));
    } catch {
      /* gone meanwhile */
    }
  }
  return pids;
}

/** Seconds the main thread of `pid` has waited on a run queue, runnable but not running (schedstat counts ns). */
function runQueueWait(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9;
  } catch {
    return NaN;
  }
}

/** Busy and total CPU seconds of the whole machine, all cores, since boot. */
function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
  const busy = user! + nice! + system! + irq! + softirq! + steal!;
  return { busy: busy / TICKS, total: (busy + idle! + iowait!) / TICKS };
}

export interface CpuSplit {
  seconds: number;
  /** CPU seconds over the window, by who spent them. */
  server: number;
  postgres: number;
  client: number;
  /** Everything else the machine did (the kernel's own threads, other processes). */
  other: number;
  /** The server's CPU seconds by thread name ('main', 'libuv-worker', V8's helpers). */
  serverThreads: Record<string, number>;
  /** The server's main thread: seconds runnable but waiting for a core (/proc schedstat). */
  mainWaiting: number;
  /** The whole machine's share of its cores busy over the window, 0–1. */
  busyShare: number;
}

/**
 * Where the machine's CPU went while a side of a benchmark ran: the server process under test, Postgres (every
 * backend, the WAL writer, the checkpointer), this benchmark process (the client), and the rest. Backends that
 * exit within the window are not counted (Postgres keeps its pool's connections open through a run).
 */
export class CpuMeter {
  private readonly start: {
    at: number;
    server: number;
    threads: Map<string, number>;
    waiting: number;
    postgres: Map<number, number>;
    client: number;
    machine: { busy: number; total: number };
  };

  constructor(private readonly serverPid: number) {
    this.start = {
      at: performance.now(),
      server: cpuSeconds(`/proc/${serverPid}`),
      threads: threadCpu(serverPid),
      waiting: runQueueWait(serverPid),
      postgres: new Map(pidsNamed('postgres').map((pid) => [pid, cpuSeconds(`/proc/${pid}`)])),
      client: cpuSeconds(`/proc/${process.pid}`),
      machine: machineCpu(),
    };
  }

  stop(): CpuSplit {
    const seconds = (performance.now() - this.start.at) / 1000;
    const server = cpuSeconds(`/proc/${this.serverPid}`) - this.start.server;
    const serverThreads: Record<string, number> = {};
    for (const [name, cpu] of threadCpu(this.serverPid)) serverThreads[name] = cpu - (this.start.threads.get(name) ?? 0);
    let postgres = 0;
    for (const pid of pidsNamed('postgres')) {
      const now = cpuSeconds(`/proc/${pid}`);
      if (Number.isFinite(now)) postgres += now - (this.start.postgres.get(pid) ?? 0);
    }
    const client = cpuSeconds(`/proc/${process.pid}`) - this.start.client;
    const machine = machineCpu();
    const busy = machine.busy - this.start.machine.busy;
    const total = machine.total - this.start.machine.total;
    return {
      seconds,
      server,
      serverThreads,
      mainWaiting: runQueueWait(this.serverPid) - this.start.waiting,
      postgres,
      client,
      other: Math.max(0, busy - server - postgres - client),
      busyShare: total > 0 ? busy / total : NaN,
    };
  }
}
