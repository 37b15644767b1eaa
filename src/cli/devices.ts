import type { Command } from 'commander';
import { resolveAccount } from './accounts.ts';
import { contextOf } from './context.ts';
import { bytes, count, relativeTime, table } from './format.ts';
import type { Account, Device } from './types.ts';

export function registerDevices(program: Command): void {
  const devices = program.command('devices').description('list and revoke paired devices');

  devices
    .command('list')
    .alias('ls')
    .description('list devices: account, last seen, counts, bytes received')
    .option('-a, --account <account>', 'only the devices of this account (id or name)')
    .action(async (opts: { account?: string }, command: Command) => {
      const ctx = contextOf(command);
      const client = ctx.admin();
      const accountFilter = opts.account ? await resolveAccount(client, opts.account) : undefined;
      const [all, accounts] = await Promise.all([
        client.all<Device>('/api/v1/admin/devices'),
        client.all<Account>('/api/v1/admin/accounts'),
      ]);
      // Filtered here: the contract names no accountId filter for this list, and a household has few devices.
      const list = accountFilter ? all.filter((d) => d.accountId === accountFilter.id) : all;
      if (ctx.opts.json) return ctx.json(list);
      if (list.length === 0) {
        return ctx.out(
          accountFilter ? `${accountFilter.name} has no devices. Pair one: photo-relay pair ${accountFilter.id}` : 'No devices yet.',
        );
      }
      const names = new Map(accounts.map((a) => [a.id, a.name]));
      const rows = list.map((d) => [
        d.id,
        d.name,
        d.platform,
        names.get(d.accountId) ?? d.accountId,
        d.revokedAt ? `revoked ${relativeTime(d.revokedAt)}` : 'active',
        relativeTime(d.lastSeenAt),
        count(d.counts.backedUp),
        count(d.counts.pending + d.counts.uploading),
        count(d.counts.failed),
        bytes(d.bytesReceived),
      ]);
      ctx.out(
        table(
          ['ID', 'NAME', 'PLATFORM', 'ACCOUNT', 'STATUS', 'LAST SEEN', 'BACKED UP', 'BACKLOG', 'FAILED', 'RECEIVED'],
          rows,
          [6, 7, 8, 9],
        ),
      );
    });

  devices
    .command('revoke')
    .description('revoke a device: its token stops working at once; its assets stay and keep forwarding')
    .argument('<device-id>', 'the device id (see devices list)')
    .action(async (id: string, _opts: unknown, command: Command) => {
      const ctx = contextOf(command);
      await ctx.admin().call('DELETE', `/api/v1/admin/devices/${encodeURIComponent(id)}`);
      if (ctx.opts.json) return ctx.json({ id, revoked: true });
      ctx.out(`Revoked device ${id}: its token no longer works. Its photos stay and keep forwarding.`);
    });
}
