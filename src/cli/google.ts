import type { Command } from 'commander';
import { createInterface } from 'node:readline';
import { googleLabel, resolveAccount } from './accounts.ts';
import { contextOf } from './context.ts';
import { CliError } from './errors.ts';
import type { Account } from './types.ts';

/** One line from stdin (prompting when it is a terminal); '' at end of input. */
function readLine(prompt: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({
      input: process.stdin,
      output: process.stdin.isTTY ? process.stderr : undefined,
      terminal: !!process.stdin.isTTY,
    });
    let answered = false;
    rl.on('line', (line) => {
      answered = true;
      rl.close();
      resolve(line.trim());
    });
    rl.on('close', () => {
      if (!answered) resolve('');
    });
    if (process.stdin.isTTY) (rl.setPrompt(prompt), rl.prompt());
  });
}

export function registerGoogle(program: Command): void {
  const google = program.command('google').description('link an account to its Google Photos library');

  google
    .command('link')
    .description('link an account: open the consent URL, then paste the URL the browser ended on')
    .argument('<account>', 'account id or name')
    .option('--redirect-url <url>', 'the URL the browser ended on after consent (instead of pasting it)')
    .option('--no-wait', 'only print the consent URL')
    .action(async (ref: string, opts: { redirectUrl?: string; wait: boolean }, command: Command) => {
      const ctx = contextOf(command);
      const client = ctx.admin();
      const account = await resolveAccount(client, ref);
      const base = `/api/v1/admin/accounts/${encodeURIComponent(account.id)}/google`;
      let redirectUrl = opts.redirectUrl?.trim();
      // With --redirect-url the consent already happened (after an earlier `google link --no-wait`): just complete it.
      if (!redirectUrl) {
        const { authUrl } = await client.post<{ authUrl: string }>(`${base}/authorize`);
        if (ctx.opts.json && !opts.wait) return ctx.json({ accountId: account.id, authUrl });
        const say = ctx.opts.json ? (text: string) => process.stderr.write(`${text}\n`) : ctx.out;
        say(`Open this URL in a browser and consent with ${account.name}'s Google account:`);
        say('');
        say(`  ${authUrl}`);
        say('');
        if (!opts.wait) {
          say('Google then redirects to the relay, which completes the link. If that page does not load, run');
          say(`  photo-relay google link ${account.id} --redirect-url '<the URL the browser ended on>'`);
          return;
        }
        say('If the browser could not reach the relay, paste the URL it ended on here.');
        say('If the relay showed that the link is complete, just press Enter.');
        redirectUrl = await readLine('Redirect URL: ');
      }
      let linked: Account;
      if (redirectUrl) {
        linked = await client.post<Account>(`${base}/complete`, { redirectUrl });
      } else {
        linked = await client.get<Account>(`/api/v1/admin/accounts/${encodeURIComponent(account.id)}`);
        if (linked.google.status !== 'linked') {
          throw new CliError(
            `${account.name} is not linked yet (Google: ${googleLabel(linked)}); paste the redirect URL or pass --redirect-url`,
          );
        }
      }
      if (ctx.opts.json) return ctx.json(linked);
      ctx.out(`Linked ${linked.name} to Google account ${linked.google.email ?? '(email not reported)'}.`);
    });
}
