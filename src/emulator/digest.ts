import { createHash, type Hash } from 'node:crypto';
import { SNIFF_BYTES } from '../media/sniff.ts';

/**
 * What the emulator keeps of uploaded bytes: a running SHA-256, the size, and the first SNIFF_BYTES for format
 * detection. Never the whole body, so a 2 GiB video streams through in flat memory.
 */
export class StreamDigest {
  #hash: Hash;
  #size: number;
  #head: Buffer;

  constructor(hash: Hash = createHash('sha256'), size = 0, head: Buffer = Buffer.alloc(0)) {
    this.#hash = hash;
    this.#size = size;
    this.#head = head;
  }

  get size(): number {
    return this.#size;
  }

  get head(): Buffer {
    return this.#head;
  }

  update(bytes: Buffer): void {
    this.#hash.update(bytes);
    if (this.#head.length < SNIFF_BYTES) {
      this.#head = Buffer.concat([this.#head, bytes.subarray(0, SNIFF_BYTES - this.#head.length)]);
    }
    this.#size += bytes.length;
  }

  /** An independent continuation: lets a resumable chunk be applied tentatively and discarded if rejected. */
  fork(): StreamDigest {
    return new StreamDigest(this.#hash.copy(), this.#size, this.#head);
  }

  /** Hex SHA-256 of everything so far; leaves this digest usable. */
  hex(): string {
    return this.#hash.copy().digest('hex');
  }
}
