import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { FastifyRequest } from 'fastify';
import type { AuthedDevice } from '../http/auth.ts';
import { ApiError } from '../http/errors.ts';
import { registerUpload } from '../ingest/register.ts';
import { tap } from '../intake/body-tap.ts';
import type { IntakeUpload } from '../intake/intake.ts';
import { countBody } from '../intake/metrics.ts';
import { SNIFF_BYTES, sniffMedia } from '../media/sniff.ts';
import type { Services } from '../services.ts';
import { appendBody, TooMuchContent } from './append.ts';
import { hashPrefix, HashCheckpoints } from './hash-state.ts';
import type { UploadLock, UploadLocks } from './lock.ts';
import { ResumableError, type DeclaredChecksum, type Protocol } from './protocol.ts';
import { storeOf, type UploadStore, type UploadRow } from './store.ts';

/** A long append without a per-request checksum records its progress every so often: a crash then loses at most this. */
const CHECKPOINT_BYTES = 64 * 1024 * 1024;

export interface Completed {
  assetId: string;
  duplicate: boolean;
}

export interface AppendRequest {
  /** The offset the client says it appends at. */
  offset: number;
  /** Draft only: whether this request's content finishes the upload. tus finishes when the length is reached. */
  final?: boolean;
  /** A length declared now (tus deferred length, the draft's Upload-Length on a later request). */
  length?: number;
  checksum?: DeclaredChecksum;
  /** A whole-file SHA-256 declared on this request (Repr-Digest). */
  sha256?: string;
}

/** What a resumable upload's requests share: the rows and files, the cross-process locks, the hash checkpoints. */
export class ResumableUploads {
  readonly store: UploadStore;
  readonly checkpoints = new HashCheckpoints();

  constructor(
    readonly services: Services,
    readonly locks: UploadLocks,
  ) {
    this.store = storeOf(services);
  }

  /** Refused while another request appends to the upload: tus clients know 423 and retry; the draft says 409. */
  busy(proto: Protocol): Error {
    const message = 'Another request is appending to this upload: ask for its offset again and resume from there';
    return proto.kind === 'tus' ? new ResumableError(423, 'conflict', message) : new ApiError('conflict', message);
  }

  /**
   * Append a request's body at the upload's durable offset and, when that finishes the upload, take it through the
   * intake once. Caller holds the upload's lock: an append that leaves the upload incomplete releases it as it records
   * the new offset (one round trip for both); otherwise the caller releases it. The offset recorded (and told) is
   * always bytes fsynced; a cut body keeps what arrived unless a checksum covered the request, which then cannot be
   * verified and is dropped whole.
   */
  async append(
    request: FastifyRequest,
    upload: IntakeUpload,
    device: AuthedDevice,
    lock: UploadLock,
    row: UploadRow,
    req: AppendRequest,
    withBody: boolean,
  ): Promise<{ row: UploadRow; completed: Completed | null }> {
    const { config, metrics } = this.services;
    if (req.offset !== row.offset) {
      throw new ApiError('conflict', `Upload-Offset ${req.offset} is not the upload's offset (${row.offset})`);
    }
    let length = row.length;
    if (req.length !== undefined) {
      if (length !== null && length !== req.length)
        throw new ApiError('validation_failed', `Upload-Length ${req.length} contradicts the upload's length ${length}`);
      if (req.length < row.offset)
        throw new ApiError('validation_failed', `Upload-Length ${req.length} is less than the bytes already received`);
      if (req.length > config.maxUploadBytes)
        throw new ApiError('payload_too_large', `File exceeds the limit of ${config.maxUploadBytes} bytes`);
      length = req.length;
    }
    const sha256 = req.sha256;
    if (sha256 && row.sha256 && sha256 !== row.sha256)
      throw new ApiError('hash_mismatch', 'Repr-Digest contradicts the sha256 declared for this upload');
    const limit = (length ?? config.maxUploadBytes) - row.offset;
    const declared = Number(request.headers['content-length']);
    if (withBody && Number.isFinite(declared) && declared > limit) throw tooMuch(length, config.maxUploadBytes);
    if (withBody) await this.checkRoom(row, Number.isFinite(declared) ? declared : 0);

    const file = this.store.partPath(row.id);
    const part = await this.store.openForAppend(row.id, row.offset);
    const { handle, size } = part;
    try {
      if (size < row.offset) {
        // The disk lost bytes it had acknowledged: its content is the truth, and the client must resume from it.
        await this.store.saveOffset(row.id, size);
        this.checkpoints.drop(row.id);
        throw new ApiError('conflict', `The relay holds ${size} bytes of this upload: resume from there`);
      }
      const whole: Hash = this.checkpoints.take(row.id, row.offset) ?? (await hashPrefix(file, row.offset));
      const perRequest = req.checksum ? createHash(req.checksum.algorithm) : undefined;
      let written = 0;
      let failure: unknown;
      if (withBody) {
        const body = tap(request.raw);
        countBody(request.raw, body);
        let received = 0;
        body.on('data', (chunk: Buffer) => (received += chunk.length));
        const outcome = await appendBody(body, {
          handle,
          position: row.offset,
          limit,
          hashes: perRequest ? [whole, perRequest] : [whole],
          signal: upload.signal,
          ...(perRequest
            ? {}
            : { checkpoint: { everyBytes: CHECKPOINT_BYTES, save: (offset: number) => this.store.saveOffset(row.id, offset) } }),
        });
        written = outcome.written;
        failure = outcome.error;
        metrics.resumableReceived.inc(received);
        if (outcome.syncFailed) {
          // Back to what was durable before this append (a checkpoint it recorded is undone too).
          await handle.truncate(row.offset);
          await handle.sync();
          this.checkpoints.drop(row.id);
          await this.store.saveOffset(row.id, row.offset);
          throw failure;
        }
      }
      // fdatasync: the data and the size that reads it back, without the timestamps fsync would also flush.
      await handle.datasync();
      const verified = perRequest ? failure === undefined && perRequest.digest('base64') === req.checksum!.expected : true;
      if (!verified) {
        // A request whose checksum failed, or that cannot be checked (cut short), keeps none of its bytes.
        await handle.truncate(row.offset);
        await handle.sync();
        this.checkpoints.drop(row.id);
        if (failure === undefined)
          throw new ResumableError(460, 'hash_mismatch', `The content does not match Upload-Checksum (${req.checksum!.algorithm})`);
        throw failure;
      }
      const offset = row.offset + written;
      if (failure !== undefined) {
        // Keep what arrived whole and durable: the client resumes from here.
        await this.store.saveOffset(row.id, offset);
        metrics.resumableAppended.inc(written);
        this.checkpoints.put(row.id, offset, whole);
        throw failure instanceof TooMuchContent ? tooMuch(length, config.maxUploadBytes) : failure;
      }
      const final = req.final ?? (length !== null && offset === length);
      if (req.final) {
        if (length !== null && offset !== length) {
          await handle.truncate(row.offset);
          await handle.sync();
          this.checkpoints.drop(row.id);
          throw new ApiError('validation_failed', `The upload ended at ${offset} bytes, not at its declared length ${length}`);
        }
        length = offset;
      }
      if (row.offset < SNIFF_BYTES && (offset >= SNIFF_BYTES || final) && offset > 0) await this.judgeHead(row, handle, offset);
      const newLength = length !== row.length ? length : undefined;
      const newSha256 = sha256 && !row.sha256 ? sha256 : undefined;
      const next: UploadRow = {
        ...row,
        offset,
        length,
        sha256: row.sha256 ?? sha256 ?? null,
        expiresAt: this.store.expiry(),
      };
      if (!final) {
        part.keep();
        // Kept before the lock goes: the next append, in this process, finds the hash at the offset it reads.
        this.checkpoints.put(row.id, offset, whole);
        await this.store.saveOffsetAndRelease(lock, row.id, offset, newLength, newSha256);
        metrics.resumableAppended.inc(written);
        return { row: next, completed: null };
      }
      await part.close();
      await this.store.saveOffset(row.id, offset, newLength, newSha256);
      metrics.resumableAppended.inc(written);
      return { row: next, completed: await this.complete(device, next, upload, whole.digest('hex')) };
    } finally {
      await part.close();
    }
  }

  /**
   * Finish an upload whose bytes are all durable: verify the declared hash, then the same intake as every door
   * (sniffing and size limit in BlobStore.adopt, content lock and registration in registerUpload, forwarding).
   * Caller holds the lock. Content the relay refuses (not media, wrong hash) ends the upload and leaves nothing.
   */
  async complete(device: AuthedDevice, row: UploadRow, upload: IntakeUpload | null, sha256?: string): Promise<Completed> {
    const file = this.store.partPath(row.id);
    const actual = sha256 ?? (await hashPrefix(file, row.offset)).digest('hex');
    if (row.sha256 && row.sha256 !== actual) {
      await this.forget(row.id);
      throw new ApiError('hash_mismatch', `Declared sha256 ${row.sha256} does not match the content (${actual})`);
    }
    let temp;
    try {
      temp = await this.services.blobs.adopt(file, this.services.config.maxUploadBytes, actual);
    } catch (err) {
      if (err instanceof ApiError) await this.forget(row.id);
      throw err;
    }
    let registered;
    try {
      registered = await registerUpload(this.services, device, temp, row.meta);
    } catch (err) {
      await this.services.blobs.discard(temp.tempPath);
      throw err;
    }
    upload?.committed(registered.duplicate ? 'duplicate' : 'created');
    await this.store.markCompleted(row.id, registered.assetId, registered.duplicate);
    await this.store.unlinkPart(row.id);
    this.checkpoints.drop(row.id);
    return { assetId: registered.assetId, duplicate: registered.duplicate };
  }

  /**
   * Refuse an append the spool has no room for (its declared length, above RESUMABLE_MIN_FREE_BYTES) before a byte is
   * written: the upload keeps its offset and resumes once space returns. A body of unknown length, or a disk that
   * fills while it streams, meets ENOSPC instead, which keeps the whole chunks written and is answered 507 too.
   */
  private async checkRoom(row: UploadRow, bytes: number): Promise<void> {
    const floor = this.services.config.resumable.minFreeBytes;
    const free = await this.services.blobs.freeBytes();
    if (free - bytes >= floor) return;
    throw new ApiError(
      'insufficient_storage',
      `The relay is out of disk space for this append: the upload keeps its ${row.offset} bytes; resume once space returns`,
    );
  }

  /** Refuse content that is not a photo or video as soon as its head is in, not after gigabytes. */
  private async judgeHead(row: UploadRow, handle: FileHandle, offset: number): Promise<void> {
    const head = Buffer.alloc(Math.min(offset, SNIFF_BYTES));
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    if (await sniffMedia(head.subarray(0, bytesRead))) return;
    await this.forget(row.id);
    throw new ApiError('unsupported_media_type', 'The content is not a photo or video format Google Photos accepts');
  }

  async forget(id: string): Promise<void> {
    this.checkpoints.drop(id);
    await this.store.remove(id);
  }
}

function tooMuch(length: number | null, max: number): ApiError {
  return length !== null
    ? new ApiError('validation_failed', `The content goes past the upload's length (${length} bytes)`)
    : new ApiError('payload_too_large', `File exceeds the limit of ${max} bytes`);
}
