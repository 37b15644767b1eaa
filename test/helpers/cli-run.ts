import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ADMIN_TOKEN } from './harness.ts';

const BIN = fileURLToPath(new URL('../../bin/photo-relay.mjs', import.meta.url));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The photo-relay CLI as a user runs it (a child process), pointed at `relayUrl` with the admin token: no PHOTO_RELAY_*
 * setting of the test's own environment leaks in.
 */
export function runCli(relayUrl: string, args: string[], options: { env?: Record<string, string>; input?: string } = {}): Promise<Run> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('PHOTO_RELAY_')) delete env[key];
  Object.assign(env, { PHOTO_RELAY_URL: relayUrl, PHOTO_RELAY_ADMIN_TOKEN: ADMIN_TOKEN, NO_COLOR: '1' }, options.env);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}
