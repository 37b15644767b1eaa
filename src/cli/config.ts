import { UsageError } from './errors.ts';

export const DEFAULT_URL = 'http://localhost:8080';

/** Options every command accepts (commander's global options). */
export interface GlobalOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

/** Where the relay is: `--url`, else PHOTO_RELAY_URL, else http://localhost:8080. */
export function relayUrl(opts: GlobalOptions, env: NodeJS.ProcessEnv = process.env): string {
  const raw = opts.url ?? env.PHOTO_RELAY_URL ?? DEFAULT_URL;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new UsageError(`relay URL is not a URL: ${JSON.stringify(raw)} (set --url or PHOTO_RELAY_URL)`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(`relay URL must be http:// or https://, not ${parsed.protocol} (set --url or PHOTO_RELAY_URL)`);
  }
  return parsed.href.replace(/\/+$/, '');
}

/** The admin token: `--token`, else PHOTO_RELAY_ADMIN_TOKEN. Required by every admin command. */
export function adminToken(opts: GlobalOptions, env: NodeJS.ProcessEnv = process.env): string {
  const token = (opts.token ?? env.PHOTO_RELAY_ADMIN_TOKEN)?.trim();
  if (!token) {
    throw new UsageError(
      'no admin token: pass --token or set PHOTO_RELAY_ADMIN_TOKEN (in demo mode the relay keeps it in data/secrets/admin-token)',
    );
  }
  return token;
}

/** The device token for `push`: `--device-token`, else PHOTO_RELAY_DEVICE_TOKEN; undefined when neither is set. */
export function deviceToken(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const token = (flag ?? env.PHOTO_RELAY_DEVICE_TOKEN)?.trim();
  return token ? token : undefined;
}
