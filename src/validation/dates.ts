import { ApiError } from '../http/errors.ts';

/**
 * The one reader of dates that clients send (fileCreatedAt, `since`, WebDAV modification times). It accepts what phones
 * and WebDAV clients actually send and refuses anything Postgres or `Date#toISOString` could not hold, so a date that
 * got in can always be stored and read back:
 * - RFC 3339 / ISO 8601: `2024-05-01T10:00:00.123+02:00`, with `Z`, an offset (colon optional), or none (read as UTC,
 *   since the relay cannot know the phone's zone); `T`, `t` or a space between date and time; seconds and a fraction
 *   (up to 9 digits, kept to the millisecond) optional; a date alone is midnight UTC.
 * - HTTP dates (RFC 9110 §5.6.7): IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`, RFC 850 and asctime forms.
 * - Unix seconds, optionally with a fraction: `1700000000`, `1700000000.25`, `-86400` (what X-OC-Mtime carries).
 * Refused: impossible calendar dates (2020-02-30, hour 24, minute 60), offsets beyond ±23:59, and any instant whose
 * UTC year, after applying the offset, falls outside 1–9999 (Postgres has no year 0; toISOString writes year 10000 as
 * `+010000-…`, which no client parses as RFC 3339).
 * Leap seconds: second 60 is accepted only where one can occur, at 23:59 UTC, and read as 23:59:59.999 of that day:
 * JavaScript and Postgres have no 61st second, and this keeps the order of instants.
 */

const MAX_LENGTH = 64;
/** 0001-01-01T00:00:00.000Z (written out: Date.UTC maps years 0–99 to 1900–1999). */
export const MIN_INSTANT = -62_135_596_800_000;
/** 9999-12-31T23:59:59.999Z */
export const MAX_INSTANT = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?)?$/;
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const MONTH = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
const IMF_FIXDATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{1,2}) ${MONTH} (\\d{4}) ${TIME} (?:GMT|UTC)$`, 'i');
const RFC850 = new RegExp(`^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`, 'i');
const ASCTIME = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MONTH} ( \\d|\\d{2}) ${TIME} (\\d{4})$`, 'i');
const UNIX_SECONDS = /^(-?)(\d{1,12})(?:\.(\d{1,9}))?$/;

interface Fields {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  ms: number;
  /** Minutes east of UTC. */
  offset: number;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Calendar fields to an instant, or null when the date does not exist or lies outside years 1–9999 (UTC). */
function instantOf(f: Fields): Date | null {
  if (f.month < 1 || f.month > 12 || f.day < 1 || f.day > daysInMonth(f.year, f.month)) return null;
  if (f.hour > 23 || f.minute > 59 || f.second > 60) return null;
  const leap = f.second === 60;
  const d = new Date(0);
  d.setUTCFullYear(f.year, f.month - 1, f.day);
  d.setUTCHours(f.hour, f.minute, leap ? 59 : f.second, leap ? 999 : f.ms);
  const ms = d.getTime() - f.offset * 60_000;
  const instant = new Date(ms);
  if (leap && (instant.getUTCHours() !== 23 || instant.getUTCMinutes() !== 59)) return null;
  return inRange(ms) ? instant : null;
}

function inRange(ms: number): boolean {
  return Number.isFinite(ms) && ms >= MIN_INSTANT && ms <= MAX_INSTANT;
}

const millis = (fraction: string | undefined) => Number((fraction ?? '').padEnd(3, '0').slice(0, 3));

function parseRfc3339(value: string): Date | null {
  const m = RFC3339.exec(value);
  if (!m) return null;
  const [, y, mo, d, h, mi, s, frac, , sign, oh, om] = m;
  let offset = 0;
  if (sign) {
    if (Number(oh) > 23 || Number(om) > 59) return null;
    offset = (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om));
  }
  return instantOf({
    year: Number(y),
    month: Number(mo),
    day: Number(d),
    hour: Number(h ?? 0),
    minute: Number(mi ?? 0),
    second: Number(s ?? 0),
    ms: millis(frac),
    offset,
  });
}

function parseHttpDate(value: string): Date | null {
  let parts: { day: string; month: string; year: number; h: string; mi: string; s: string } | null = null;
  let m: RegExpExecArray | null;
  if ((m = IMF_FIXDATE.exec(value))) {
    parts = { day: m[1]!, month: m[2]!, year: Number(m[3]), h: m[4]!, mi: m[5]!, s: m[6]! };
  } else if ((m = RFC850.exec(value))) {
    // RFC 9110 reads a two-digit year more than 50 years ahead as the past century; a fixed pivot keeps this clock-free.
    const yy = Number(m[3]);
    parts = { day: m[1]!, month: m[2]!, year: yy + (yy < 70 ? 2000 : 1900), h: m[4]!, mi: m[5]!, s: m[6]! };
  } else if ((m = ASCTIME.exec(value))) {
    parts = { month: m[1]!, day: m[2]!, h: m[3]!, mi: m[4]!, s: m[5]!, year: Number(m[6]) };
  }
  if (!parts) return null;
  return instantOf({
    year: parts.year,
    month: MONTHS.indexOf(parts.month.toLowerCase()) + 1,
    day: Number(parts.day.trim()),
    hour: Number(parts.h),
    minute: Number(parts.mi),
    second: Number(parts.s),
    ms: 0,
    offset: 0,
  });
}

function parseUnixSeconds(value: string): Date | null {
  const m = UNIX_SECONDS.exec(value);
  if (!m) return null;
  const [, sign, whole, frac] = m;
  // Whole seconds and milliseconds apart, so a fraction never picks up binary rounding (0.29 s stays 290 ms).
  const ms = (sign ? -1 : 1) * (Number(whole) * 1000 + millis(frac));
  return inRange(ms) ? new Date(ms) : null;
}

/** A date as a client sent it, or null when it is not one the relay accepts (see above). */
export function parseClientDate(value: string | undefined | null): Date | null {
  if (typeof value !== 'string') return null;
  const v = value.trim();
  if (v === '' || v.length > MAX_LENGTH) return null;
  return parseUnixSeconds(v) ?? parseRfc3339(v) ?? parseHttpDate(v);
}

/** Like parseClientDate, for a request field: absent or empty is null, anything unreadable is 400 validation_failed. */
export function checkDate(value: string | undefined, field: string): Date | null {
  if (value === undefined || value === '') return null;
  const date = parseClientDate(value);
  if (!date) {
    throw new ApiError(
      'validation_failed',
      `${field} must be an RFC 3339 timestamp, an HTTP date or Unix seconds, for a real date in the years 1 to 9999`,
    );
  }
  return date;
}

/** A stored instant for an answer: ISO 8601 when it can be written as RFC 3339, else null, so no row can fail a listing. */
export function toTimestamp(date: Date | null | undefined): string | null {
  if (!date) return null;
  const ms = date.getTime();
  return inRange(ms) ? date.toISOString() : null;
}
