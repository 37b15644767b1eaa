import { Upload } from 'tus-js-client';
import { api } from './api.ts';
import { sha256OfFile } from './hash.ts';
import { appendSizeFor } from './upload-limit.ts';

export type ItemState = 'waiting' | 'hashing' | 'hashed' | 'uploading' | 'sent' | 'known' | 'failed';

export interface Item {
  file: File;
  state: ItemState;
  sha256?: string;
  /** Bytes hashed or sent, for the per-file progress bar. */
  done: number;
  message?: string;
}

const RESUMABLE = '/api/v1/uploads';
// Each PATCH carries 8 MiB, or the relay's max-append-size if less: the relay keeps what has arrived at each step, so
// a reload resumes close to where it stopped.
const CHUNK = 8 * 1024 * 1024;

/** The relay's resumable endpoint, as its discovery describes it. */
export interface ResumableEndpoint {
  /** Bytes per PATCH. */
  chunkSize: number;
}

/** The resumable endpoint (tus discovery answers OPTIONS, with Upload-Limit), or null when the relay has none. */
export async function discoverResumable(): Promise<ResumableEndpoint | null> {
  try {
    const res = await fetch(RESUMABLE, { method: 'OPTIONS', headers: { 'tus-resumable': '1.0.0' } });
    if (res.status === 404) return null;
    return { chunkSize: appendSizeFor(res.headers.get('upload-limit'), CHUNK) };
  } catch {
    return null;
  }
}

/** The phone's own id for a file chosen in the browser: the same file chosen again names the same asset. */
function deviceAssetIdOf(file: File): string {
  return `web:${file.lastModified}:${file.size}:${file.name}`.slice(0, 255);
}

/**
 * One browser upload of many files: hash each (streaming), ask `check` which contents the account lacks, send only
 * those through the resumable endpoint, and register the rest by hash — no bytes sent for content already there.
 */
export class BrowserUpload {
  readonly items: Item[];
  paused = false;
  finished = false;
  private current: Upload | null = null;
  private wake: (() => void) | null = null;

  constructor(
    files: File[],
    private readonly token: string,
    private readonly endpoint: ResumableEndpoint,
    private readonly changed: () => void,
  ) {
    this.items = files.map((file) => ({ file, state: 'waiting', done: 0 }));
  }

  get totalBytes(): number {
    return this.items.reduce((n, i) => n + i.file.size, 0);
  }

  /** Bytes settled: sent, or known to the relay already (those count as done without being sent). */
  get doneBytes(): number {
    return this.items.reduce(
      (n, i) => n + (i.state === 'sent' || i.state === 'known' ? i.file.size : i.state === 'uploading' ? i.done : 0),
      0,
    );
  }

  pause(): void {
    this.paused = true;
    void this.current?.abort();
    this.changed();
  }

  resume(): void {
    this.paused = false;
    this.wake?.();
    this.changed();
  }

  private async whilePaused(): Promise<void> {
    while (this.paused) await new Promise<void>((r) => (this.wake = r));
  }

  async run(): Promise<void> {
    for (const item of this.items) {
      await this.whilePaused();
      item.state = 'hashing';
      this.changed();
      item.sha256 = await sha256OfFile(item.file, (done) => {
        item.done = done;
        this.changed();
      });
      item.state = 'hashed';
      item.done = 0;
    }
    const hashes = [...new Set(this.items.map((i) => i.sha256!))];
    const missing = new Set<string>();
    for (let i = 0; i < hashes.length; i += 1000) {
      const { missing: m } = await api<{ missing: string[] }>(this.token, 'POST', '/api/v1/assets/check', {
        sha256: hashes.slice(i, i + 1000),
      });
      for (const h of m) missing.add(h);
    }
    for (const item of this.items) {
      await this.whilePaused();
      try {
        if (missing.has(item.sha256!)) {
          await this.send(item);
          // Another chosen file with the same content now goes by hash.
          missing.delete(item.sha256!);
        } else {
          await api(this.token, 'POST', '/api/v1/assets/by-hash', {
            sha256: item.sha256,
            deviceAssetId: deviceAssetIdOf(item.file),
            fileName: item.file.name,
            fileCreatedAt: new Date(item.file.lastModified).toISOString(),
          });
          item.state = 'known';
          item.message = 'already on the relay: nothing sent';
        }
      } catch (err) {
        item.state = 'failed';
        item.message = (err as Error).message;
      }
      this.changed();
    }
    this.finished = true;
    this.changed();
  }

  /** Send one file with tus; a pause aborts the request and resuming continues from the relay's offset. */
  private async send(item: Item): Promise<void> {
    for (;;) {
      await this.whilePaused();
      item.state = 'uploading';
      this.changed();
      const outcome = await new Promise<'done' | 'paused'>((resolve, reject) => {
        // abort() calls neither onSuccess nor onError: a pause is noticed by this watch.
        const watch = setInterval(() => {
          if (this.paused) finish(() => resolve('paused'));
        }, 200);
        const finish = (then: () => void) => {
          clearInterval(watch);
          then();
        };
        const upload = new Upload(item.file, {
          endpoint: RESUMABLE,
          headers: { authorization: `Bearer ${this.token}` },
          metadata: {
            deviceAssetId: deviceAssetIdOf(item.file),
            fileName: item.file.name,
            fileCreatedAt: new Date(item.file.lastModified).toISOString(),
            sha256: item.sha256!,
          },
          chunkSize: this.endpoint.chunkSize,
          retryDelays: [0, 1000, 3000, 5000, 10000],
          // The upload's URL is kept in localStorage under the file's fingerprint: after a reload, choosing the same
          // file again continues at the relay's offset instead of starting over.
          storeFingerprintForResuming: true,
          removeFingerprintOnSuccess: true,
          onProgress: (sent) => {
            item.done = sent;
            this.changed();
          },
          onSuccess: () => finish(() => resolve('done')),
          onError: (err) => finish(() => (this.paused ? resolve('paused') : reject(err))),
        });
        this.current = upload;
        upload
          .findPreviousUploads()
          .then((previous) => {
            if (previous[0]) upload.resumeFromPreviousUpload(previous[0]);
            if (!this.paused) upload.start();
          })
          .catch((err) => finish(() => reject(err)));
      });
      this.current = null;
      if (outcome === 'done') {
        item.state = 'sent';
        item.done = item.file.size;
        return;
      }
    }
  }
}
