import { createSHA256 } from 'hash-wasm';

// 8 MB at a time: a 4 GB video never needs more than one chunk in memory.
const CHUNK = 8 * 1024 * 1024;

/** The file's SHA-256, read in slices (File.slice) so memory stays flat whatever the size. */
export async function sha256OfFile(file: Blob, onProgress?: (done: number) => void): Promise<string> {
  const hasher = await createSHA256();
  hasher.init();
  for (let offset = 0; offset < file.size; offset += CHUNK) {
    const chunk = new Uint8Array(await file.slice(offset, offset + CHUNK).arrayBuffer());
    hasher.update(chunk);
    onProgress?.(Math.min(file.size, offset + CHUNK));
  }
  return hasher.digest('hex');
}
