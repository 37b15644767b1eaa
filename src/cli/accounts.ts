import type { Command } from 'commander';
import { contextOf } from './context.ts';
import { CliError, UsageError } from './errors.ts';
import { bytes, count, table } from './format.ts';
import type { RelayClient } from './http.ts';
import type { Account } from './types.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An account named by its id or by its name (exact, else case-insensitive; an ambiguous name is a usage error). */
export async function resolveAccount(client: RelayClient, ref: string): Promise<Account> {
  if (UUID.test(ref)) return client.get<Account>(`/api/v1/admin/accounts/${encodeURIComponent(ref)}`);
  const accounts = await client.all<Account>('/api/v1/admin/accounts');
  let matches = accounts.filter((a) => a.name === ref);
  if (matches.length === 0) matches = accounts.filter((a) => a.name.toLowerCase() === ref.toLowerCase());
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) {
    const known = accounts.map((a) => a.name).join(', ');
    throw new CliError(
      `not_found: no account named ${JSON.stringify(ref)}${known ? ` (accounts: ${known})` : ' (there are no accounts yet)'}`,
    );
  }
  throw new UsageError(
    `${matches.length} accounts are named ${JSON.stringify(ref)}; name one by id: ${matches.map((a) => a.id).join(', ')}`,
  );
}

export function googleLabel(account: Account): string {
  const { status, email } = account.google;
  if (status === 'linked') return email ? `linked ${email}` : 'linked';
  if (status === 'needs_reauth') return `NEEDS REAUTH${email ? ` ${email}` : ''}`;
  return 'unlinked';
}

export function accountRows(accounts: Account[]): string {
  const rows = accounts.map((a) => {
    const c = a.counts;
    const backlog = c.pending + c.uploading;
    const held = c.needsReauth + c.paused;
    return [
      a.id,
      a.name,
      googleLabel(a),
      a.forwarding,
      count(a.devices),
      count(c.backedUp),
      `${count(backlog)} (${bytes(a.backlogBytes)})`,
      count(held),
      count(c.failed),
    ];
  });
  return table(['ID', 'NAME', 'GOOGLE', 'FORWARDING', 'DEVICES', 'BACKED UP', 'BACKLOG', 'HELD', 'FAILED'], rows, [4, 5, 7, 8]);
}

export function registerAccounts(program: Command): void {
  const accounts = program.command('accounts').description("manage accounts (one household member's Google Photos library each)");

  accounts
    .command('add')
    .description('create an account')
    .argument('<name>', "the household member's name")
    .action(async (name: string, _opts: unknown, command: Command) => {
      const ctx = contextOf(command);
      const account = await ctx.admin().post<Account>('/api/v1/admin/accounts', { name });
      if (ctx.opts.json) return ctx.json(account);
      ctx.out(`Created account ${account.name} (${account.id})`);
      ctx.out(`Google: ${googleLabel(account)}`);
      if (account.google.status !== 'linked') ctx.out(`Next: photo-relay google link ${account.id}`);
      ctx.out(`Then pair a phone: photo-relay pair ${account.id}`);
    });

  accounts
    .command('list')
    .alias('ls')
    .description('list accounts: Google link, forwarding, counts, backlog')
    .action(async (_opts: unknown, command: Command) => {
      const ctx = contextOf(command);
      const list = await ctx.admin().all<Account>('/api/v1/admin/accounts');
      if (ctx.opts.json) return ctx.json(list);
      if (list.length === 0) return ctx.out('No accounts yet. Create one: photo-relay accounts add <name>');
      ctx.out(accountRows(list));
    });
}
