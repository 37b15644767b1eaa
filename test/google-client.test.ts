import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { startEmulator, type RunningEmulator } from '../src/emulator/server.ts';
import type { FaultRule } from '../src/emulator/faults.ts';
import { GoogleError } from '../src/google/outcomes.ts';
import { PhotosClient, type PhotosClientOptions, type UploadSource } from '../src/google/photos-client.ts';
import { link } from './emulator/helpers.ts';
import { jpeg, mp4 } from './helpers/media.ts';

/**
 * The relay's own Photos client (src/google/photos-client.ts) against the emulator over HTTP: what each answer, cut
 * or stall of "Google" becomes in the outcome table, and how long a stalled peer can hold a request.
 */

const IDLE_MS = 800;
let em: RunningEmulator;
let accessToken: string;
let counter = 0;

before(async () => {
  em = await startEmulator({ port: 0, batchCreateMinHoldMs: 0 });
  accessToken = (await link(em.url, { email: 'client-test@example.com' })).access_token;
});
after(() => em.close());

function fault(...rules: FaultRule[]): void {
  em.state.faults.add(rules);
}

interface Probe {
  client: PhotosClient;
  requests: string[];
  invalidated: number;
}

function client(opts: Partial<PhotosClientOptions> = {}): Probe {
  const probe: Probe = { client: undefined as unknown as PhotosClient, requests: [], invalidated: 0 };
  probe.client = new PhotosClient({
    apiUrl: em.url,
    idleTimeoutMs: IDLE_MS,
    chunkBytes: 262_144,
    tokens: { get: async () => accessToken, invalidate: () => void probe.invalidated++ },
    beforeRequest: async (endpoint) => void probe.requests.push(endpoint),
    ...opts,
  });
  return probe;
}

/** A source whose opened streams the test can inspect (the client must close every one, however a request ends). */
function source(bytes: Buffer, mimeType = 'image/jpeg'): UploadSource & { opened: Readable[] } {
  const opened: Readable[] = [];
  return {
    size: bytes.length,
    mimeType,
    fileName: `IMG_${++counter}.jpg`,
    opened,
    open(range) {
      const slice = range ? bytes.subarray(range.start, range.end + 1) : bytes;
      const chunks: Buffer[] = [];
      for (let i = 0; i < slice.length; i += 65_536) chunks.push(slice.subarray(i, i + 65_536));
      const stream = Readable.from(chunks, { objectMode: false });
      opened.push(stream);
      return stream;
    },
  };
}

async function rejection(promise: Promise<unknown>): Promise<GoogleError> {
  const err = await promise.then(
    () => assert.fail('expected the call to fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof GoogleError, `a classified GoogleError, not ${String(err)}`);
  return err;
}

describe('answers of Google become outcomes', () => {
  it('a raw upload answers its upload token, which batchCreate turns into a media item', async () => {
    const { client: photos } = client();
    const token = await photos.uploadRaw(source(jpeg(5000)));
    const [outcome] = await photos.batchCreate([{ uploadToken: token, fileName: 'a.jpg' }]);
    assert.equal(outcome?.kind, 'created');
  });

  it('429 with Retry-After is rate_limited with that wait; 503 and a cut connection are transient', async () => {
    const { client: photos } = client();
    fault({ endpoint: 'upload', fault: { kind: '429', retryAfter: 42 } });
    const limited = await rejection(photos.uploadRaw(source(jpeg(3000))));
    assert.equal(limited.outcome, 'rate_limited');
    assert.equal(limited.details.retryAfterMs, 42_000);

    fault({ endpoint: 'upload', fault: { kind: '5xx', status: 503 } });
    assert.equal((await rejection(photos.uploadRaw(source(jpeg(3000))))).outcome, 'transient');

    fault({ endpoint: 'upload', fault: { kind: 'drop', afterBytes: 1000 } });
    const cut = await rejection(photos.uploadRaw(source(jpeg(30_000))));
    assert.equal(cut.outcome, 'transient');
    assert.equal(cut.details.cutShort, undefined, 'cut by the peer, not by the relay');
  });

  it('a refused access token is refreshed and the request sent once more; refused again, the link needs re-authorisation', async () => {
    const probe = client();
    fault({ endpoint: 'upload', fault: { kind: '401' } });
    assert.ok(await probe.client.uploadRaw(source(jpeg(3000))));
    assert.equal(probe.invalidated, 1);
    assert.deepEqual(probe.requests, ['upload', 'upload']);

    fault({ endpoint: 'upload', times: 2, fault: { kind: '401' } });
    assert.equal((await rejection(probe.client.uploadRaw(source(jpeg(3000))))).outcome, 'reauth');
  });

  it('an upload token Google does not know is reupload; unsupported bytes are permanent', async () => {
    const { client: photos } = client();
    const unknown = await rejection(photos.batchCreate([{ uploadToken: 'no-such-token', fileName: 'x.jpg' }]));
    assert.equal(unknown.outcome, 'reupload');
    const token = await photos.uploadRaw({ ...source(Buffer.alloc(4000, 1)), mimeType: 'image/jpeg' });
    const [outcome] = await photos.batchCreate([{ uploadToken: token, fileName: 'x.bin' }]);
    assert.equal(outcome?.kind, 'error');
    assert.equal(outcome?.kind === 'error' && outcome.error.outcome, 'permanent');
  });
});

describe('a stalled or closing peer never holds a request for long', () => {
  it('an upload Google takes no bytes of is abandoned after the idle timeout, as transient, and its file closed', async () => {
    const { client: photos } = client();
    // 8 MiB: more than the socket buffers hold, so the stall is seen while sending, not while waiting for the answer.
    fault({ endpoint: 'upload', fault: { kind: 'stall', afterBytes: 100_000 } });
    const src = source(mp4(8 * 1024 * 1024), 'video/mp4');
    const started = Date.now();
    const err = await rejection(photos.uploadRaw(src));
    const took = Date.now() - started;
    assert.equal(err.outcome, 'transient');
    assert.equal(err.details.cutShort, 'stalled');
    assert.ok(took >= IDLE_MS * 0.9 && took < IDLE_MS + 5000, `abandoned after ${took} ms (idle timeout ${IDLE_MS} ms)`);
    assert.ok(
      src.opened.every((s) => s.destroyed),
      'the source stream is closed',
    );
  });

  it('an upload whose bytes all went but whose answer never comes is abandoned the same way', async () => {
    const { client: photos } = client();
    fault({ endpoint: 'upload', fault: { kind: 'stall' } });
    const started = Date.now();
    const err = await rejection(photos.uploadRaw(source(jpeg(5000))));
    assert.equal(err.details.cutShort, 'stalled');
    assert.ok(Date.now() - started < IDLE_MS + 5000);
  });

  it('a resumable chunk that stalls is abandoned, and a stalled batchCreate too', async () => {
    const { client: photos } = client();
    const video = source(mp4(3 * 262_144), 'video/mp4');
    const session = await photos.startResumable(video);
    fault({ endpoint: 'uploadChunk', fault: { kind: 'stall', afterBytes: 1000 } });
    assert.equal((await rejection(photos.continueResumable(session, video, 0))).details.cutShort, 'stalled');

    fault({ endpoint: 'batchCreate', fault: { kind: 'stall' } });
    assert.equal((await rejection(photos.batchCreate([{ uploadToken: 'whatever', fileName: 'x.jpg' }]))).details.cutShort, 'stalled');
  });

  it('while bytes keep flowing, an upload may take longer than the idle timeout', async () => {
    const { client: photos } = client();
    // A slow disk: 6 chunks, one every 40% of the idle timeout; the whole upload takes well over the idle timeout.
    const bytes = jpeg(6 * 16_384);
    const slow: UploadSource = {
      size: bytes.length,
      mimeType: 'image/jpeg',
      fileName: 'slow.jpg',
      open: () =>
        Readable.from(
          (async function* () {
            for (let i = 0; i < bytes.length; i += 16_384) {
              await new Promise((r) => setTimeout(r, IDLE_MS * 0.4));
              yield bytes.subarray(i, i + 16_384);
            }
          })(),
          { objectMode: false },
        ),
    };
    const started = Date.now();
    assert.ok(await photos.uploadRaw(slow));
    assert.ok(Date.now() - started > IDLE_MS * 2, 'the upload outlasted the idle timeout');
  });

  it('closing abandons a stalled upload at once, as transient; after closing nothing is sent and no quota spent', async () => {
    const closing = new AbortController();
    const probe = client({ idleTimeoutMs: 60_000, closing: closing.signal });
    fault({ endpoint: 'upload', fault: { kind: 'stall', afterBytes: 10_000 } });
    const src = source(mp4(8 * 1024 * 1024), 'video/mp4');
    const pending = rejection(probe.client.uploadRaw(src));
    await waitUntil(() => em.state.stats.bytesReceived > 0 && probe.requests.length === 1, 'the upload under way');
    await new Promise((r) => setTimeout(r, 200));
    const closedAt = Date.now();
    closing.abort();
    const err = await pending;
    assert.ok(Date.now() - closedAt < 1000, `abandoned ${Date.now() - closedAt} ms after closing`);
    assert.equal(err.outcome, 'transient');
    assert.equal(err.details.cutShort, 'closing');
    assert.ok(src.opened.every((s) => s.destroyed));

    const after = await rejection(probe.client.uploadRaw(source(jpeg(3000))));
    assert.equal(after.details.cutShort, 'closing');
    assert.deepEqual(probe.requests, ['upload'], 'no request (and no quota) after closing');
  });
});

async function waitUntil(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
