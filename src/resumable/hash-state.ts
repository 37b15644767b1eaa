import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { GcPacedStream } from '../ingest/young-gc.ts';

const MAX_ENTRIES = 256;

/**
 * The running SHA-256 of uploads this process appended to, each with the offset it covers: an optimisation only.
 * The truth is the partial file: a state whose offset is not the upload's durable offset (another process appended,
 * this one restarted, bytes were cut off) is never used, and the hash is rebuilt from the file instead.
 */
export class HashCheckpoints {
  private readonly states = new Map<string, { offset: number; hash: Hash }>();

  /** The state at exactly `offset`, taken out (the caller updates it), or undefined. */
  take(id: string, offset: number): Hash | undefined {
    const state = this.states.get(id);
    this.states.delete(id);
    return state?.offset === offset ? state.hash : undefined;
  }

  /** Keep a copy of `hash`, which covers the first `offset` bytes. */
  put(id: string, offset: number, hash: Hash): void {
    this.states.delete(id);
    this.states.set(id, { offset, hash: hash.copy() });
    if (this.states.size > MAX_ENTRIES) this.states.delete(this.states.keys().next().value!);
  }

  drop(id: string): void {
    this.states.delete(id);
  }
}

/** The SHA-256 state of a file's first `length` bytes, read back from the disk. */
export async function hashPrefix(file: string, length: number): Promise<Hash> {
  const hash = createHash('sha256');
  if (length === 0) return hash;
  await pipeline(createReadStream(file, { start: 0, end: length - 1 }), new GcPacedStream(), async function (source) {
    for await (const chunk of source) hash.update(chunk as Buffer);
  });
  return hash;
}
