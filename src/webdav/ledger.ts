import type { AuthedDevice } from '../http/auth.ts';
import { registerByHash, type AssetMeta } from '../ingest/register.ts';
import type { Services } from '../services.ts';
import { conflict } from './errors.ts';
import { baseName, deviceAssetIdOf, type TreePath } from './paths.ts';

/** What a file of the WebDAV view tells the ledger about its asset: its name, its path as the phone's id, its mtime. */
export function metaOf(path: TreePath, mtime: Date | null): AssetMeta {
  return { deviceAssetId: deviceAssetIdOf(path), fileName: baseName(path), fileCreatedAt: mtime };
}

/**
 * Make a file whose bytes the relay already holds (sent under a temporary name) an asset, now that it has its final
 * name: the same registration as the native by-hash call, so household dedupe, one delivery per account and the
 * forwarding job all follow. Idempotent: a retried MOVE finds the asset it made the first time.
 */
export async function registerHeld(
  services: Services,
  device: AuthedDevice,
  sha256: string,
  path: TreePath,
  mtime: Date | null,
): Promise<string> {
  const registered = await registerByHash(services, device, sha256, metaOf(path, mtime));
  if (!registered) throw conflict(`The bytes of ${path} are no longer held by the relay; upload the file again`);
  return registered.assetId;
}
