import type { Command } from 'commander';
import { contextOf } from './context.ts';
import { bytes, count, duration, percent, plural, relativeTime, table } from './format.ts';
import type { QueueDepths, Status } from './types.ts';

const LOW_DISK_BYTES = 1e9;

function queueLine(name: string, q: QueueDepths): string {
  // prioritized jobs are waiting too (BullMQ keeps them apart); delayed ones wait for a backoff, a quota or a throttle.
  const waiting = (q.waiting ?? 0) + (q.prioritized ?? 0);
  const parts = [
    [waiting, 'waiting'],
    [q.active ?? 0, 'active'],
    [q.delayed ?? 0, 'delayed (backoff, throttle or quota)'],
    [q.failed ?? 0, 'failed'],
  ]
    .filter(([n]) => (n as number) > 0)
    .map(([n, label]) => `${count(n as number)} ${label}`);
  return `${name}: ${parts.length ? parts.join(', ') : 'idle'}`;
}

/** A readable account of GET /api/v1/admin/status: what waits, what is stuck and why, quota and storage. */
export function renderStatus(status: Status, url: string, now = Date.now()): string[] {
  const lines: string[] = [];
  const { quota, storage } = status;
  lines.push(`Relay     ${url}`);
  if (status.demoMode) lines.push('Mode      DEMO MODE: forwarding to the bundled Google Photos emulator, nothing reaches Google');
  const resetIn = (Date.parse(quota.resetsAt) - now) / 1000;
  lines.push(
    `Quota     ${count(quota.usedToday)} of ${count(quota.dailyLimit)} Google requests used today (${percent(quota.usedToday, quota.dailyLimit)}); ` +
      `resets ${relativeTime(quota.resetsAt, now)} (${quota.resetsAt})`,
  );
  lines.push(`Storage   ${plural(storage.blobs, 'blob')} held, ${bytes(storage.bytes)}; ${bytes(storage.freeBytes)} free on the spool`);
  const queues = Object.entries(status.queues ?? {});
  if (queues.length === 0) lines.push('Queues    unknown (the scheduler did not answer)');
  queues.forEach(([name, q], i) => lines.push(`${i === 0 ? 'Queues    ' : '          '}${queueLine(name, q)}`));

  const accounts = status.accounts ?? [];
  const backlog = accounts.reduce((n, a) => n + a.backlog, 0);
  const backlogBytes = accounts.reduce((n, a) => n + (a.backlogBytes ?? 0), 0);
  const waitingAccounts = accounts.filter((a) => a.backlog > 0).length;
  lines.push(
    `Waiting   ${backlog === 0 ? 'nothing: every account is up to date' : `${plural(backlog, 'item')} (${bytes(backlogBytes)}) for ${plural(waitingAccounts, 'account')}`}`,
  );
  lines.push('');
  if (accounts.length === 0) {
    lines.push('No accounts yet. Create one: photo-relay accounts add <name>');
  } else {
    const rows = accounts.map((a) => [
      a.name ?? a.id,
      count(a.backlog),
      bytes(a.backlogBytes ?? 0),
      count(a.failed ?? 0),
      count(a.quotaUsedToday ?? 0),
      a.held ? '–' : a.backlog === 0 ? 'done' : a.etaSeconds === null ? '?' : `~${duration(a.etaSeconds)}`,
      a.held ? `held: ${a.held}` : a.backlog > 0 ? 'forwarding' : 'idle',
    ]);
    lines.push(table(['ACCOUNT', 'BACKLOG', 'BYTES', 'FAILED', 'QUOTA TODAY', 'ETA', 'STATE'], rows, [1, 2, 3, 4]));
  }

  // What needs the admin, and why.
  const attention: string[] = [];
  for (const a of accounts) {
    const name = a.name ?? a.id;
    const remedy = a.held && /google/i.test(a.held) ? `; link it: photo-relay google link ${JSON.stringify(name)}` : '';
    if (a.held && a.backlog > 0) attention.push(`${name}: ${plural(a.backlog, 'item')} held (${a.held})${remedy}`);
    else if (a.held) attention.push(`${name}: ${a.held}; new photos will wait${remedy}`);
    if (a.failed)
      attention.push(
        `${name}: ${plural(a.failed, 'item')} failed permanently (see each asset's lastError; retry with POST /api/v1/admin/assets/retry)`,
      );
  }
  if (quota.usedToday >= quota.dailyLimit) {
    attention.push(`quota: today's Google request budget is spent; forwarding resumes ${relativeTime(quota.resetsAt, now)}`);
  } else if (quota.usedToday >= quota.dailyLimit * 0.9) {
    attention.push(`quota: ${percent(quota.usedToday, quota.dailyLimit)} of today's Google requests used; resets in ${duration(resetIn)}`);
  }
  for (const [name, q] of queues) {
    if ((q.failed ?? 0) > 0)
      attention.push(`${name} queue: ${plural(q.failed ?? 0, 'failed job')} (the reconciler reschedules undelivered items every minute)`);
  }
  if (storage.freeBytes < LOW_DISK_BYTES)
    attention.push(`storage: only ${bytes(storage.freeBytes)} free on the spool; uploads fail with 507 when it is full`);
  lines.push('');
  if (attention.length === 0) lines.push('Nothing is stuck.');
  else lines.push('Needs attention:', ...attention.map((a) => `  - ${a}`));
  return lines;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('what is waiting, what is stuck and why, Google quota, storage')
    .action(async (_opts: unknown, command: Command) => {
      const ctx = contextOf(command);
      const status = await ctx.admin().get<Status>('/api/v1/admin/status');
      if (ctx.opts.json) return ctx.json(status);
      for (const line of renderStatus(status, ctx.url)) ctx.out(line);
    });
}
