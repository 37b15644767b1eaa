import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface SmallFs {
  dir: string;
  unmount(): Promise<void>;
}

/**
 * A file system of `bytes` (tmpfs), for a disk that really fills up: ENOSPC from the kernel, not a simulation.
 * Mounting needs root (CAP_SYS_ADMIN): elsewhere the answer is why not, for the test to say it skipped.
 */
export async function mountSmallFs(bytes: number): Promise<SmallFs | { skip: string }> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return { skip: 'mounting a small tmpfs needs root on Linux' };
  const dir = await mkdtemp(path.join(tmpdir(), 'photo-relay-small-fs-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700`, 'tmpfs', dir]);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    return { skip: `cannot mount a tmpfs: ${(err as Error).message.split('\n')[0]}` };
  }
  return {
    dir,
    async unmount() {
      await run('umount', ['-l', dir]).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
