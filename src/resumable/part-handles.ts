import type { FileHandle } from 'node:fs/promises';

/** Open part files kept at most, and for how long one nobody appends to stays open. */
const MAX_KEPT = 32;
const IDLE_MS = 30_000;

/**
 * Part files left open between an upload's appends, in this process. A phone or the web app sends a large file as
 * a run of 8 MiB appends, one after the other; opening the file again for each (mkdir, open, and the thread-pool
 * trips they cost) was a millisecond of every ~25 ms append. An optimisation only: the handle carries no state of
 * its own (its size is read again at every append, and the row under the upload's lock says whether to write at all),
 * so a handle forgotten or closed early costs one open.
 *
 * A handle is out of the cache while an append uses it, so two requests never share one. Removing an upload's file
 * closes the handle here first; a handle another process's removal left pointing at an unlinked file is never
 * written through, since that upload's row is gone or completed, which the append reads under the lock first.
 */
export class PartHandles {
  private readonly kept = new Map<string, { handle: FileHandle; timer: NodeJS.Timeout }>();

  /** The upload's kept handle, taken out of the cache, or undefined. */
  take(id: string): FileHandle | undefined {
    const entry = this.kept.get(id);
    if (!entry) return undefined;
    this.kept.delete(id);
    clearTimeout(entry.timer);
    return entry.handle;
  }

  /** Keep the handle for the upload's next append; the oldest kept one is closed beyond MAX_KEPT. */
  keep(id: string, handle: FileHandle): void {
    void this.close(id);
    const timer = setTimeout(() => void this.close(id), IDLE_MS);
    timer.unref();
    this.kept.set(id, { handle, timer });
    if (this.kept.size > MAX_KEPT) void this.close(this.kept.keys().next().value!);
  }

  /** Close the upload's kept handle, if any (before its file goes). */
  async close(id: string): Promise<void> {
    const handle = this.take(id);
    await handle?.close().catch(() => {});
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.kept.keys()].map((id) => this.close(id)));
  }
}
