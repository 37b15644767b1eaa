// Google's daily quota resets at midnight Pacific time; Intl is the only DST-correct source without a tz library.
const TZ = 'America/Los_Angeles';

const wallFormat = new Intl.DateTimeFormat('en-US', {
  timeZone: TZ,
  hourCycle: 'h23',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

/** The Pacific wall-clock time at `at`, expressed as if it were UTC (so Date.UTC arithmetic works on it). */
function wallClock(at: number): number {
  const parts: Record<string, number> = {};
  for (const p of wallFormat.formatToParts(at)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
}

/** 'YYYY-MM-DD' of the Pacific calendar day containing `at`. */
export function pacificDay(at: number): string {
  return new Date(wallClock(at)).toISOString().slice(0, 10);
}

/** The instant of the next Pacific midnight after `at`. */
export function nextPacificMidnight(at: number): number {
  const wall = new Date(wallClock(at));
  const midnightWall = Date.UTC(wall.getUTCFullYear(), wall.getUTCMonth(), wall.getUTCDate() + 1);
  // The UTC offset at midnight can differ from the one at `at` (DST switch day), so correct once with the target's offset.
  const guess = midnightWall - (wall.getTime() - Math.floor(at / 1000) * 1000);
  return midnightWall - (wallClock(guess) - guess);
}
