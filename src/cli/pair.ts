import type { Command } from 'commander';
import { resolveAccount } from './accounts.ts';
import { contextOf } from './context.ts';
import { relativeTime } from './format.ts';
import type { CreatedDevice, Pairing } from './types.ts';

async function qr(text: string): Promise<string> {
  // Loaded only when drawn: every CLI start pays for what it imports.
  const { default: qrcode } = await import('qrcode-terminal');
  return new Promise((resolve) => qrcode.generate(text, { small: true }, resolve));
}

export function registerPair(program: Command): void {
  program
    .command('pair')
    .description('create a one-time pairing code (valid 15 minutes) for a phone of an account')
    .argument('<account>', 'account id or name')
    .option('--no-qr', 'do not draw the QR code')
    .option('--app <app>', 'the app to pair: "nextcloud" creates a device now and prints the QR code its login screen scans')
    .option('--name <name>', 'with --app nextcloud: the name of the phone', 'Nextcloud app')
    .action(async (ref: string, opts: { qr: boolean; app?: string; name: string }, command: Command) => {
      const ctx = contextOf(command);
      const client = ctx.admin();
      const account = await resolveAccount(client, ref);
      if (opts.app !== undefined) {
        if (opts.app !== 'nextcloud') throw new Error(`Unknown app "${opts.app}": the one supported is nextcloud`);
        const created = await client.post<CreatedDevice>(`/api/v1/admin/accounts/${encodeURIComponent(account.id)}/devices`, {
          name: opts.name,
          platform: 'nextcloud',
        });
        if (ctx.opts.json) return ctx.json(created);
        ctx.out(`Device "${opts.name}" created for ${account.name} (${created.deviceId}).`);
        ctx.out('In the Nextcloud app, choose "Log in" and scan this QR code (it holds the device token: keep it private):');
        if (opts.qr) {
          ctx.out();
          ctx.out((await qr(created.nextcloudLoginUrl)).trimEnd());
        }
        ctx.out();
        ctx.out(`Login URL: ${created.nextcloudLoginUrl}`);
        ctx.out(`Or type it in: server address as above, user name any, password ${created.token}`);
        ctx.out('Then turn on Auto upload for the camera folder. Revoke with: photo-relay devices revoke ' + created.deviceId);
        return;
      }
      const pairing = await client.post<Pairing>(`/api/v1/admin/accounts/${encodeURIComponent(account.id)}/pairings`);
      if (ctx.opts.json) return ctx.json({ accountId: account.id, ...pairing });
      ctx.out(`Pairing code for ${account.name}: ${pairing.code}`);
      ctx.out(`Pair URL: ${pairing.pairUrl}`);
      ctx.out(`Expires: ${pairing.expiresAt} (${relativeTime(pairing.expiresAt)}); it works once.`);
      if (opts.qr) {
        ctx.out();
        ctx.out((await qr(pairing.pairUrl)).trimEnd());
      }
      ctx.out();
      ctx.out('Scan the QR code with the phone, or enter the code in its app.');
      ctx.out(`To back up a folder from this machine instead: photo-relay push <dir> --pair-code ${pairing.code}`);
    });
}
