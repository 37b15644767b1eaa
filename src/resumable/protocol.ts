import type { FastifyRequest } from 'fastify';
import { ApiError } from '../http/errors.ts';
import { checkAssetMeta, checkSha256 } from '../ingest/asset-meta.ts';
import type { AssetMeta } from '../ingest/register.ts';

/**
 * The two protocols the resumable endpoint speaks, told apart by their headers: tus 1.0 (`Tus-Resumable: 1.0.0`)
 * and the IETF "Resumable Uploads for HTTP" draft (`Upload-Draft-Interop-Version`). Everything protocol-specific
 * about a request is read here, so the handlers deal with one shape.
 */
export type Protocol = { kind: 'tus' } | { kind: 'ietf'; version: number };

export const TUS_VERSION = '1.0.0';
export const TUS_EXTENSIONS = 'creation,creation-with-upload,creation-defer-length,termination,expiration,checksum';
export const TUS_CHECKSUM_ALGORITHMS = 'sha256,sha1';
/** Interop versions of the draft: 3 = iOS 17, 5 = iOS 18.0 / tus-js-client ietf-draft-03, 6 = iOS 18.1 / ietf-draft-05, 7–8 later drafts. */
export const IETF_VERSIONS = new Set([3, 5, 6, 7, 8]);

/** A refusal with a status the JSON API never uses (423, 460, 412); same answer shape as every other error. */
export class ResumableError extends Error {
  constructor(
    readonly statusCode: 412 | 423 | 460,
    readonly code: 'conflict' | 'hash_mismatch' | 'validation_failed',
    message: string,
  ) {
    super(message);
    this.name = 'ResumableError';
  }
}

const invalid = (message: string) => new ApiError('validation_failed', message);

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

export function protocolOf(request: FastifyRequest): Protocol {
  const interop = header(request, 'upload-draft-interop-version');
  if (interop !== undefined) {
    const version = Number(interop.trim());
    if (!IETF_VERSIONS.has(version)) {
      throw invalid(`Upload-Draft-Interop-Version ${interop.slice(0, 20)} is not one this relay speaks (3, 5, 6, 7, 8)`);
    }
    return { kind: 'ietf', version };
  }
  const tus = header(request, 'tus-resumable');
  if (tus === undefined) {
    throw invalid('Send Tus-Resumable: 1.0.0 (tus) or Upload-Draft-Interop-Version (the IETF resumable-upload draft)');
  }
  if (tus.trim() !== TUS_VERSION)
    throw new ResumableError(412, 'validation_failed', `Tus-Resumable ${tus.slice(0, 20)} is not supported: 1.0.0 is`);
  return { kind: 'tus' };
}

/** A non-negative integer header, as both protocols write lengths and offsets; undefined when absent. */
export function intHeader(request: FastifyRequest, name: string): number | undefined {
  const value = header(request, name);
  if (value === undefined) return undefined;
  const v = value.trim();
  if (!/^\d{1,16}$/.test(v) || !Number.isSafeInteger(Number(v))) throw invalid(`${name} must be a non-negative integer`);
  return Number(v);
}

/** The draft's structured booleans (RFC 8941): ?1 or ?0. */
function boolHeader(request: FastifyRequest, name: string): boolean | undefined {
  const value = header(request, name);
  if (value === undefined) return undefined;
  const v = value.trim();
  if (v === '?1') return true;
  if (v === '?0') return false;
  throw invalid(`${name} must be ?1 or ?0`);
}

/**
 * Whether this request's content finishes the upload (draft only): interop 3 says so with `Upload-Incomplete: ?0` or
 * no such header; later versions with `Upload-Complete: ?1`, which they require on every request carrying content.
 */
export function completesUpload(request: FastifyRequest, proto: Protocol & { kind: 'ietf' }): boolean {
  if (proto.version === 3) return !(boolHeader(request, 'upload-incomplete') ?? false);
  const complete = boolHeader(request, 'upload-complete');
  if (complete === undefined) throw invalid('Upload-Complete is required');
  return complete;
}

/** The completion header as this interop version writes it. */
export function completionHeader(proto: Protocol & { kind: 'ietf' }, complete: boolean): [string, string] {
  return proto.version === 3 ? ['upload-incomplete', complete ? '?0' : '?1'] : ['upload-complete', complete ? '?1' : '?0'];
}

/** Whether the request carries content (a body of non-zero length, or one of unknown length). */
export function hasBody(request: FastifyRequest): boolean {
  if (request.headers['transfer-encoding'] !== undefined) return true;
  const length = Number(request.headers['content-length'] ?? 0);
  return Number.isFinite(length) && length > 0;
}

/** The content types an append may have: tus requires its own; the draft's later versions theirs; interop 3 and 5 none. */
export function checkAppendType(request: FastifyRequest, proto: Protocol): void {
  const type = (header(request, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (proto.kind === 'tus') {
    if (type !== 'application/offset+octet-stream') throw invalid('An append must have Content-Type: application/offset+octet-stream');
  } else if (proto.version >= 6 && request.method === 'PATCH' && type !== 'application/partial-upload') {
    throw invalid('An append must have Content-Type: application/partial-upload');
  }
}

export interface UploadMetadata {
  meta: AssetMeta;
  /** The whole file's SHA-256 the client declared, lower-case hex. */
  sha256: string | undefined;
}

const METADATA_MAX = 8 * 1024;

/**
 * `Upload-Metadata` (tus encoding, accepted in both protocols): comma-separated `key base64(value)` pairs. Keys are
 * unique; values are UTF-8. The asset's fields are validated exactly as the native door validates them. `filename`
 * (what tus clients conventionally send) stands in for `fileName`.
 */
export function parseMetadata(request: FastifyRequest): UploadMetadata {
  const raw = header(request, 'upload-metadata') ?? '';
  if (raw.length > METADATA_MAX) throw invalid(`Upload-Metadata must be at most ${METADATA_MAX} characters`);
  const fields: Record<string, string> = {};
  for (const pair of raw.split(',')) {
    const trimmed = pair.trim();
    if (trimmed === '') continue;
    const [key, value, ...rest] = trimmed.split(/ +/);
    if (!key || rest.length > 0 || !/^[!-+\--~]+$/.test(key))
      throw invalid('Upload-Metadata must be comma-separated "key base64value" pairs');
    if (Object.hasOwn(fields, key)) throw invalid(`Upload-Metadata gives ${key} twice`);
    fields[key] = value === undefined ? '' : decodeBase64(value, key);
  }
  const meta = checkAssetMeta(
    { deviceAssetId: fields.deviceAssetId, fileName: fields.fileName, fileCreatedAt: fields.fileCreatedAt },
    fields.filename,
  );
  return { meta, sha256: checkSha256(fields.sha256) };
}

function decodeBase64(value: string, key: string): string {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 === 1) throw invalid(`Upload-Metadata ${key} is not base64`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(value, 'base64'));
  } catch {
    throw invalid(`Upload-Metadata ${key} is not UTF-8`);
  }
}

export type ChecksumAlgorithm = 'sha256' | 'sha1';

export interface DeclaredChecksum {
  algorithm: ChecksumAlgorithm;
  /** The digest, base64 as sent. */
  expected: string;
}

/** tus `Upload-Checksum: <algorithm> <base64 digest>`, over one request's content. */
export function parseChecksum(request: FastifyRequest): DeclaredChecksum | undefined {
  const raw = header(request, 'upload-checksum');
  if (raw === undefined) return undefined;
  const m = /^\s*(\S+)\s+([A-Za-z0-9+/]+={0,2})\s*$/.exec(raw);
  if (!m) throw invalid('Upload-Checksum must be "<algorithm> <base64 digest>"');
  const algorithm = m[1]!.toLowerCase();
  if (algorithm !== 'sha256' && algorithm !== 'sha1')
    throw invalid(`Upload-Checksum algorithm ${algorithm.slice(0, 20)} is not supported (sha256, sha1)`);
  return { algorithm, expected: Buffer.from(m[2]!, 'base64').toString('base64') };
}

/**
 * The whole file's SHA-256 from RFC 9530 `Repr-Digest` (`sha-256=:<base64>:`), which the draft lets a client send
 * on any request of the upload. Other algorithms are ignored (the relay's identity for content is SHA-256).
 */
export function parseReprDigest(request: FastifyRequest): string | undefined {
  const raw = header(request, 'repr-digest');
  if (raw === undefined) return undefined;
  for (const member of raw.split(',')) {
    const m = /^\s*([a-z0-9-]+)\s*=\s*:([A-Za-z0-9+/]*={0,2}):\s*$/.exec(member);
    if (!m) throw invalid('Repr-Digest must be a structured dictionary of byte sequences');
    if (m[1] !== 'sha-256') continue;
    const digest = Buffer.from(m[2]!, 'base64');
    if (digest.length !== 32) throw invalid('Repr-Digest sha-256 must be 32 bytes');
    return digest.toString('hex');
  }
  return undefined;
}

/** Both ways of declaring the whole file's hash must agree. */
export function declaredSha256(...values: (string | null | undefined)[]): string | undefined {
  const given = [...new Set(values.filter((v): v is string => typeof v === 'string'))];
  if (given.length > 1) throw new ApiError('hash_mismatch', 'The declared sha256 values of this upload disagree');
  return given[0];
}
