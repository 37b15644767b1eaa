import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, opendir } from 'node:fs/promises';
import path from 'node:path';

/** One regular file under the pushed folder. */
export interface LocalFile {
  abs: string;
  /** Path relative to the pushed folder, with forward slashes: the asset's deviceAssetId (see deviceAssetIdOf). */
  rel: string;
  size: number;
  mtime: Date;
  sha256?: string;
}

export interface ScanResult {
  files: LocalFile[];
  /** Directories or files that could not be read: each is a failure, since its photos would be missed. */
  unreadable: { rel: string; reason: string }[];
}

const isHidden = (name: string) => name.startsWith('.');

/** Every regular, non-hidden file under `root` (hidden directories are skipped whole; symlinks are not followed). */
export async function scan(root: string): Promise<ScanResult> {
  const files: LocalFile[] = [];
  const unreadable: ScanResult['unreadable'] = [];
  const dirs = [root];
  while (dirs.length > 0) {
    const dir = dirs.pop()!;
    let handle;
    try {
      handle = await opendir(dir);
    } catch (err) {
      unreadable.push({ rel: relOf(root, dir) || '.', reason: (err as Error).message });
      continue;
    }
    for await (const entry of handle) {
      if (isHidden(entry.name)) continue;
      const abs = path.join(dir, entry.name);
      if (entry.isDirectory()) dirs.push(abs);
      else if (entry.isFile()) {
        try {
          const info = await lstat(abs);
          if (info.isFile()) files.push({ abs, rel: relOf(root, abs), size: info.size, mtime: info.mtime });
        } catch (err) {
          unreadable.push({ rel: relOf(root, abs), reason: (err as Error).message });
        }
      }
    }
  }
  files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return { files, unreadable };
}

function relOf(root: string, abs: string): string {
  return path.relative(root, abs).split(path.sep).join('/');
}

/** Streaming SHA-256 of a file, in constant memory. */
export async function hashFile(abs: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(abs, { highWaterMark: 1024 * 1024 })) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}

const MAX_DEVICE_ASSET_ID = 255;

/**
 * The asset's deviceAssetId: its path relative to the pushed folder, so pushing the same folder again names the
 * same assets. The contract caps it at 255 characters; a longer path keeps its end (the file name) and a hash
 * of the whole path, so it stays unique and stable.
 */
export function deviceAssetIdOf(rel: string): string {
  if (rel.length <= MAX_DEVICE_ASSET_ID) return rel;
  const digest = createHash('sha256').update(rel).digest('hex').slice(0, 32);
  return `${digest}…${rel.slice(-(MAX_DEVICE_ASSET_ID - digest.length - 1))}`;
}

/** The file name Google Photos shows: the base name. */
export function fileNameOf(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}
