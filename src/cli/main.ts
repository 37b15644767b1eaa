import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { registerAccounts } from './accounts.ts';
import { registerDevices } from './devices.ts';
import { CliError, describeError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './errors.ts';
import { registerGoogle } from './google.ts';
import { registerPair } from './pair.ts';
import { registerPush } from './push/command.ts';
import { registerStatus } from './status.ts';
import { DEFAULT_URL } from './config.ts';

function retriesOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 20) throw new InvalidArgumentError('must be an integer from 0 to 20');
  return n;
}

export function buildProgram(): Command {
  const program = new Command('photo-relay')
    .description('Administer a Photo Relay and back up folders to it, over its HTTP API')
    .version('0.1.0')
    .addOption(new Option('--url <url>', `the relay's base URL (default: ${DEFAULT_URL})`).env('PHOTO_RELAY_URL'))
    .addOption(new Option('--token <token>', 'the admin token').env('PHOTO_RELAY_ADMIN_TOKEN'))
    .option('--json', 'print JSON instead of text (for scripts)')
    .option('--retries <n>', 'retries of a transient failure: network, 5xx, 429 (default: 2, push: 4)', retriesOption)
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();
  registerAccounts(program);
  registerPair(program);
  registerDevices(program);
  registerGoogle(program);
  registerStatus(program);
  registerPush(program);
  return program;
}

/** Run the CLI and return its exit code: 0 success, 1 failures, 2 usage or configuration errors. */
export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has printed its message (or the help) already.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT_OK;
      if (err.code === 'commander.help' && err.exitCode === 0) return EXIT_OK;
      return EXIT_USAGE;
    }
    process.stderr.write(`error: ${describeError(err)}\n`);
    return err instanceof CliError ? err.exitCode : EXIT_FAILURE;
  }
}

process.on('unhandledRejection', (err) => {
  process.stderr.write(`error: ${describeError(err)}\n`);
  process.exit(EXIT_FAILURE);
});

process.exitCode = await run(process.argv);
