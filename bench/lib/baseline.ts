import { mkdir, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnNode, type Child } from './proc.ts';
import type { Cleanup } from './relay.ts';

export interface Baseline {
  child: Child;
  url: string;
  dir: string;
  /** Delete what it wrote so far (between runs, to keep the disk use down). */
  clear(): Promise<void>;
}

/** bench/baseline-server.ts as a child process writing into `dir`; with `insertUrl`, one INSERT per upload. */
export async function startBaseline(dir: string, cleanup: Cleanup, insertUrl?: string): Promise<Baseline> {
  await mkdir(dir, { recursive: true });
  cleanup.add(`remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
  const child = spawnNode(
    `baseline-server${insertUrl ? ' --insert' : ''}`,
    ['--import', 'tsx', 'bench/baseline-server.ts', '--dir', dir, ...(insertUrl ? ['--insert', insertUrl] : [])],
    {},
  );
  cleanup.add(`stop ${child.name} (pid ${child.pid})`, () => child.stop());
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.process.exitCode !== null) throw new Error(`baseline server exited:\n${child.tail().join('\n')}`);
    const line = child.tail().find((l) => l.startsWith('{"port"'));
    if (line) {
      const { port } = JSON.parse(line) as { port: number };
      return {
        child,
        url: `http://127.0.0.1:${port}/upload`,
        dir,
        async clear() {
          await rm(dir, { recursive: true, force: true });
          await mkdir(dir, { recursive: true });
        },
      };
    }
    await sleep(50);
  }
  throw new Error(`baseline server did not start:\n${child.tail().join('\n')}`);
}
