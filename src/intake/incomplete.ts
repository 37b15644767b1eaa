import { ApiError } from '../http/errors.ts';

/**
 * Errors a broken or vanished client causes mid-body, whichever door and parser saw them: the upload is incomplete,
 * not our failure (400 incomplete_upload, never a 500). A full disk is the relay's, and the contract's 507.
 */
export function asIncomplete(err: unknown): unknown {
  if (err instanceof ApiError) return err;
  const e = err as (NodeJS.ErrnoException & { code?: string }) | undefined;
  if (
    e?.code === 'ECONNRESET' ||
    e?.code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    // @fastify/multipart's code for a request closed mid-body (the plugin names it FST_MP_…, not FST_REQ_…).
    e?.code === 'FST_MP_PREMATURE_CLOSE' ||
    /Unexpected end of (form|multipart data)|terminated early|aborted/i.test(e?.message ?? '')
  ) {
    return new ApiError('incomplete_upload', 'The upload ended before the whole body arrived');
  }
  if (e?.code === 'ENOSPC' || e?.code === 'EDQUOT') return new ApiError('insufficient_storage', 'The relay is out of disk space');
  return err;
}
