const PACIFIC = 'America/Los_Angeles';

const dayFormat = new Intl.DateTimeFormat('en-CA', { timeZone: PACIFIC, year: 'numeric', month: '2-digit', day: '2-digit' });
const hourFormat = new Intl.DateTimeFormat('en-US', { timeZone: PACIFIC, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });

/** Google's quota day: the calendar date in Pacific time ('YYYY-MM-DD'). */
export function quotaDay(at: Date): string {
  return dayFormat.format(at);
}

/** The instant the quota resets: the next midnight in Pacific time (PST or PDT, whichever is in force then). */
export function quotaResetsAt(at: Date): Date {
  const [y, m, d] = quotaDay(at).split('-').map(Number) as [number, number, number];
  for (const offsetHours of [8, 7]) {
    const candidate = new Date(Date.UTC(y, m - 1, d + 1, offsetHours));
    if (hourFormat.format(candidate) === '00:00') return candidate;
  }
  throw new Error('no Pacific midnight found');
}
