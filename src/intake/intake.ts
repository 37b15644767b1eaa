import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { TempBlob } from '../ingest/blob-store.ts';
import type { Services } from '../services.ts';
import { answerEarly } from './early-answer.ts';
import { asIncomplete } from './incomplete.ts';
import type { InflightUploads } from './inflight.ts';
import { countBody, recordOutcome, type UploadOutcome } from './metrics.ts';

/** What a door does with an upload while it runs; everything around it is the intake's. */
export interface IntakeUpload {
  /** Aborted on shutdown or when the body stops arriving; its reason is the answer. */
  readonly signal: AbortSignal;
  /** Stream the content into a temp file (BlobStore.receive): counted, stopped with the upload, deleted on failure. */
  receive(body: Readable, maxBytes: number): Promise<TempBlob>;
  /** The temp file now belongs to the ledger (registered or stored): a later failure must not delete it. */
  committed(outcome: UploadOutcome): void;
}

/**
 * Run one upload through the intake every door shares: registered with the in-flight uploads (shutdown, idle
 * timeout), its content counted in the upload series, and on any failure its temp file deleted, the answer
 * prepared while the client may still be sending (answerEarly), and the error mapped (a cut body is
 * incomplete_upload, a stopped upload answers with the reason it was stopped).
 */
export async function intake<T>(
  services: Pick<Services, 'blobs'>,
  uploads: InflightUploads,
  request: FastifyRequest,
  reply: FastifyReply,
  work: (upload: IntakeUpload) => Promise<T>,
): Promise<T> {
  const controller = uploads.start(request.raw);
  let temp: TempBlob | undefined;
  const upload: IntakeUpload = {
    signal: controller.signal,
    async receive(body, maxBytes) {
      countBody(request.raw, body);
      temp = await services.blobs.receive(body, maxBytes, controller.signal);
      return temp;
    },
    committed(outcome) {
      temp = undefined;
      recordOutcome(request.raw, outcome);
    },
  };
  try {
    return await work(upload);
  } catch (err) {
    if (temp) await services.blobs.discard(temp.tempPath);
    answerEarly(request, reply, uploads);
    throw controller.signal.aborted ? controller.signal.reason : asIncomplete(err);
  } finally {
    uploads.end(controller);
  }
}
