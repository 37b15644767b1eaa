import { ApiError } from '../http/errors.ts';
import type { AssetMeta } from './register.ts';

const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
export const SHA256_HEX = /^[0-9a-f]{64}$/;

function invalid(message: string): ApiError {
  return new ApiError('validation_failed', message);
}

export function checkDeviceAssetId(value: string | undefined): string {
  if (value === undefined || value.length === 0) throw invalid('deviceAssetId is required');
  if (value.length > 255) throw invalid('deviceAssetId must be at most 255 characters');
  if (CONTROL_CHARS.test(value)) throw invalid('deviceAssetId must not contain control characters');
  return value;
}

/** A file name is a single path segment: it ends up in Google Photos and in log lines, never in a path of ours. */
export function checkFileName(value: string | undefined): string {
  if (value === undefined || value.length === 0) throw invalid("fileName is required (as a field or as the file part's filename)");
  if (value.length > 255) throw invalid('fileName must be at most 255 characters');
  if (CONTROL_CHARS.test(value)) throw invalid('fileName must not contain control characters');
  if (/[/\\]/.test(value) || value === '.' || value === '..') throw invalid('fileName must be a plain file name, without directories');
  return value;
}

export function checkFileCreatedAt(value: string | undefined): Date | null {
  if (value === undefined || value === '') return null;
  const date = new Date(value);
  if (!ISO_DATE.test(value) || Number.isNaN(date.getTime())) throw invalid('fileCreatedAt must be an ISO-8601 timestamp');
  return date;
}

export function checkSha256(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  const lower = value.toLowerCase();
  if (!SHA256_HEX.test(lower)) throw invalid('sha256 must be 64 hexadecimal characters');
  return lower;
}

export function checkAssetMeta(fields: Record<string, string | undefined>, partFileName?: string): AssetMeta {
  return {
    deviceAssetId: checkDeviceAssetId(fields.deviceAssetId),
    fileName: checkFileName(fields.fileName ?? partFileName),
    fileCreatedAt: checkFileCreatedAt(fields.fileCreatedAt),
  };
}
