import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, mkdir, open, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { StartRefused } from '../ops/start-refused.ts';
import type { Config } from './config.ts';

const MIN_TOKEN_LENGTH = 32;

/**
 * Read a secret file only if nobody else could have written or read it: owned by this process's user, mode 0600, a
 * regular file (not a symlink). The checks run on the opened handle, so the file cannot be swapped in between.
 */
export async function readSecretFile(file: string): Promise<string> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ELOOP') throw new StartRefused(`${file} is a symbolic link; a secret must be a file of its own: replace it, or remove it for a new secret`);
    throw err;
  });
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new StartRefused(`${file} is not a regular file: remove it, and a new secret is generated`);
    const uid = process.getuid?.();
    if (uid !== undefined && stat.uid !== uid) {
      throw new StartRefused(`${file} belongs to user ${stat.uid}, not to the relay's user ${uid}: chown it, or remove it for a new secret`);
    }
    if ((stat.mode & 0o777) !== 0o600) {
      throw new StartRefused(
        `${file} has mode 0${(stat.mode & 0o777).toString(8)}; a secret must be 0600 (readable by the relay's user only): chmod 600 it after checking nobody copied it, or remove it for a new secret`,
      );
    }
    return (await handle.readFile('utf8')).trim();
  } finally {
    await handle.close();
  }
}

/** DATA_DIR/secrets: what demo mode generates for itself. */
export function secretsDir(config: Config): string {
  return path.join(config.dataDir, 'secrets');
}

/** A secret kept in DATA_DIR/secrets/<name>, generated the first time; every process of the relay reads the same. */
export function readOrCreateSecret(config: Config, name: string, make: () => string): Promise<string> {
  return readOrCreate(path.join(secretsDir(config), name), make);
}

async function readOrCreate(file: string, make: () => string): Promise<string> {
  try {
    return await readSecretFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  // Written aside, then published by link(), which never overwrites: two processes starting together (API and
  // worker) agree on one secret, and neither can read a half-written file.
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temp, `${make()}\n`, { mode: 0o600, flag: 'wx' });
  try {
    await link(temp, file).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  } finally {
    await unlink(temp);
  }
  return readSecretFile(file);
}

/**
 * Demo mode needs no set-up: secrets the admin did not give are generated once and kept (mode 0600) in
 * DATA_DIR/secrets, so restarts keep working and the admin can read the token from the file.
 */
export async function fillDemoSecrets(config: Config): Promise<{ config: Config; adminTokenFile?: string }> {
  if (!config.demoMode) return { config };
  const dir = secretsDir(config);
  const next = { ...config };
  let adminTokenFile: string | undefined;
  if (!next.adminToken) {
    adminTokenFile = path.join(dir, 'admin-token');
    const token = await readOrCreate(adminTokenFile, () => randomBytes(32).toString('base64url'));
    if (token.length < MIN_TOKEN_LENGTH) {
      throw new StartRefused(`${adminTokenFile} holds fewer than ${MIN_TOKEN_LENGTH} characters: remove it for a new token, or set ADMIN_TOKEN`);
    }
    next.adminToken = token;
  }
  if (!next.encryptionKey) {
    const keyFile = path.join(dir, 'encryption-key');
    const key = Buffer.from(await readOrCreate(keyFile, () => randomBytes(32).toString('base64')), 'base64');
    if (key.length !== 32) throw new StartRefused(`${keyFile} does not hold 32 bytes of base64: restore it, or set ENCRYPTION_KEY`);
    next.encryptionKey = key;
  }
  return { config: next, ...(adminTokenFile ? { adminTokenFile } : {}) };
}
