import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from './config.ts';

async function readOrCreate(file: string, make: () => string): Promise<{ value: string; created: boolean }> {
  try {
    return { value: (await readFile(file, 'utf8')).trim(), created: false };
  } catch {
    const value = make();
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    // 'wx': two processes starting together must not overwrite each other's secret.
    await writeFile(file, `${value}\n`, { mode: 0o600, flag: 'wx' }).catch(() => {});
    return { value: (await readFile(file, 'utf8')).trim(), created: true };
  }
}

/**
 * Demo mode needs no set-up: secrets the admin did not give are generated once and kept (mode 0600)
 * beside the spool, so restarts keep working and the admin can read the token from the file.
 */
export async function fillDemoSecrets(config: Config): Promise<{ config: Config; adminTokenFile?: string }> {
  if (!config.demoMode) return { config };
  const dir = path.join(path.dirname(config.spoolDir), 'secrets');
  const next = { ...config };
  let adminTokenFile: string | undefined;
  if (!next.adminToken) {
    adminTokenFile = path.join(dir, 'admin-token');
    next.adminToken = (await readOrCreate(adminTokenFile, () => randomBytes(32).toString('base64url'))).value;
  }
  if (!next.encryptionKey) {
    const key = await readOrCreate(path.join(dir, 'encryption-key'), () => randomBytes(32).toString('base64'));
    next.encryptionKey = Buffer.from(key.value, 'base64');
  }
  return { config: next, ...(adminTokenFile ? { adminTokenFile } : {}) };
}
