/**
 * A start-up check found something the admin must decide (a secret file others can read, a foreign listener on the
 * emulator's port, accounts linked by another OAuth client): the relay stops with this message and a non-zero exit,
 * before it touches anything.
 */
export class StartRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartRefused';
  }
}

/** main's last word: a refusal is printed as the message it is (no stack trace); anything else stays a crash. */
export function exitOnRefusal(err: unknown): never {
  if (!(err instanceof StartRefused)) throw err;
  console.error(`Photo Relay did not start: ${err.message}`);
  process.exit(1);
}
