import { ApiError } from '../http/errors.ts';
import { checkDate } from '../validation/dates.ts';
import { checkName, checkText, FILE_NAME_MAX } from '../validation/names.ts';
import type { AssetMeta } from './register.ts';

export const SHA256_HEX = /^[0-9a-f]{64}$/;

function invalid(message: string): ApiError {
  return new ApiError('validation_failed', message);
}

/** The phone's own id: opaque, compared byte for byte by the phone, so checked but never normalised. */
export function checkDeviceAssetId(value: string | undefined): string {
  if (value === undefined || value.length === 0) throw invalid('deviceAssetId is required');
  return checkText(value, 'deviceAssetId', 255);
}

/** A file name is a single path segment: it ends up in Google Photos and in log lines, never in a path of ours. */
export function checkFileName(value: string | undefined): string {
  if (value === undefined || value.length === 0) throw invalid("fileName is required (as a field or as the file part's filename)");
  const name = checkName(value, 'fileName', FILE_NAME_MAX);
  if (/[/\\]/.test(name) || name === '.' || name === '..') throw invalid('fileName must be a plain file name, without directories');
  return name;
}

export function checkFileCreatedAt(value: string | undefined): Date | null {
  return checkDate(value, 'fileCreatedAt');
}

export function checkSha256(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  const lower = value.toLowerCase();
  if (!SHA256_HEX.test(lower)) throw invalid('sha256 must be 64 hexadecimal characters');
  return lower;
}

/** Every door's asset metadata, checked once before any byte is kept: what passes here can be stored and read back. */
export function checkAssetMeta(fields: Record<string, string | undefined>, partFileName?: string): AssetMeta {
  return {
    deviceAssetId: checkDeviceAssetId(fields.deviceAssetId),
    fileName: checkFileName(fields.fileName ?? partFileName),
    fileCreatedAt: checkFileCreatedAt(fields.fileCreatedAt),
  };
}
