import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Metrics } from '../ops/metrics.ts';

/** What the ledger made of an upload that succeeded: a new asset, one it had, or bytes held under a temporary name. */
export type UploadOutcome = 'created' | 'duplicate' | 'held';

interface Tally {
  bytes: number;
  outcome?: UploadOutcome;
}

const tallies = new WeakMap<IncomingMessage, Tally>();

function tallyOf(raw: IncomingMessage): Tally {
  let tally = tallies.get(raw);
  if (!tally) tallies.set(raw, (tally = { bytes: 0 }));
  return tally;
}

/**
 * Count the bytes of an upload's content as they reach the blob store. Call it just before handing `body` to
 * BlobStore.receive, in the same tick: the listener then sees every chunk the pipeline does.
 */
export function countBody(raw: IncomingMessage, body: Readable): void {
  const tally = tallyOf(raw);
  body.on('data', (chunk: Buffer) => (tally.bytes += chunk.length));
}

export function recordOutcome(raw: IncomingMessage, outcome: UploadOutcome): void {
  tallyOf(raw).outcome = outcome;
}

/**
 * The one place upload series are counted, for every door: an onResponse hook for each upload route. The outcome is
 * what the door recorded, or for a refusal the status; the bytes are the content received (not the envelope around it).
 */
export function countUploads(metrics: Metrics) {
  return async function countUpload(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const tally = tallies.get(request.raw);
    const succeeded = reply.statusCode < 400 ? tally?.outcome : undefined;
    const outcome = succeeded ?? (reply.statusCode === 201 ? 'created' : reply.statusCode === 200 ? 'duplicate' : String(reply.statusCode));
    metrics.uploads.inc({ outcome });
    metrics.ingestDuration.observe({ outcome }, reply.elapsedTime / 1000);
    if (tally && tally.bytes > 0) metrics.bytesReceived.inc(tally.bytes);
  };
}
