import { ApiError } from '../http/errors.ts';

/**
 * The one rule for names people give things (accounts, devices, files) and for the opaque ids phones send. A name is
 * stored as Unicode NFC, so "é" typed on two keyboards is one name; it must fit its column after normalisation (which
 * can lengthen a string) and be readable back exactly as stored. Refused:
 * - control characters (C0, DEL, C1): Postgres refuses NUL, the others corrupt logs, terminals and Google's metadata;
 * - line and paragraph separators and the bidirectional embedding/override/isolate controls, which make a name render
 *   as something else in the admin's lists ("Trojan source");
 * - lone UTF-16 surrogates, which no UTF-8 column can hold: the driver would store U+FFFD and the name would not round-trip;
 * - names that are empty or only white space.
 * Lengths count code points, as Postgres' varchar(n) and the JSON schemas' maxLength do.
 */

const FORBIDDEN = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export const NAME_MAX = 200;
export const FILE_NAME_MAX = 255;

function invalid(message: string): ApiError {
  return new ApiError('validation_failed', message);
}

function codePoints(value: string): number {
  let n = 0;
  for (const _ of value) n++;
  return n;
}

/** Checks shared by names and ids; returns the value unchanged. */
export function checkText(value: unknown, field: string, max: number): string {
  if (typeof value !== 'string' || !/\S/u.test(value)) throw invalid(`${field} is required and must not be blank`);
  if (LONE_SURROGATE.test(value)) throw invalid(`${field} is not valid Unicode (a lone surrogate)`);
  if (FORBIDDEN.test(value)) throw invalid(`${field} must not contain control, line-separator or bidirectional-override characters`);
  if (codePoints(value) > max) throw invalid(`${field} must be at most ${max} characters`);
  return value;
}

/** A name as it will be stored: NFC, then checked (after normalisation, which can lengthen it). */
export function checkName(value: unknown, field = 'name', max = NAME_MAX): string {
  if (typeof value === 'string' && LONE_SURROGATE.test(value)) throw invalid(`${field} is not valid Unicode (a lone surrogate)`);
  return checkText(typeof value === 'string' ? value.normalize('NFC') : value, field, max);
}
