import { Type } from '@sinclair/typebox';
import { Nullable, Timestamp } from '../http/schemas.ts';
import { ASSET_STATES, type AssetView } from './asset-view.ts';

export const AssetState = Type.Union(ASSET_STATES.map((s) => Type.Literal(s)));

export const AssetSchema = Type.Object({
  id: Type.String(),
  deviceId: Type.String(),
  accountId: Type.String(),
  sha256: Type.String(),
  size: Type.Integer(),
  mimeType: Type.String(),
  fileName: Type.String(),
  deviceAssetId: Type.String(),
  fileCreatedAt: Nullable(Timestamp),
  state: AssetState,
  googleMediaItemId: Nullable(Type.String()),
  attempts: Type.Integer(),
  lastError: Nullable(Type.String()),
  createdAt: Timestamp,
  backedUpAt: Nullable(Timestamp),
});

export const AssetCreatedSchema = Type.Object({
  id: Type.String(),
  sha256: Type.String(),
  size: Type.Integer(),
  mimeType: Type.String(),
  state: AssetState,
  duplicate: Type.Boolean(),
});

export function toCreated(asset: Pick<AssetView, 'id' | 'sha256' | 'size' | 'mimeType' | 'state'>, duplicate: boolean) {
  return { id: asset.id, sha256: asset.sha256, size: asset.size, mimeType: asset.mimeType, state: asset.state, duplicate };
}
