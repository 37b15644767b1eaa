import { Type } from '@sinclair/typebox';
import type { Db } from '../db/client.ts';
import { countAssetsBy } from '../assets/asset-view.ts';
import { Counts, Nullable, Timestamp } from '../http/schemas.ts';

export const DeviceSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  platform: Type.String(),
  accountId: Type.String(),
  lastSeenAt: Nullable(Timestamp),
  revokedAt: Nullable(Timestamp),
  createdAt: Timestamp,
  counts: Counts,
  bytesReceived: Type.Integer(),
});

export async function deviceViews(db: Db, where: { ids?: string[]; accountId?: string }, page?: { limit: number; after?: string }) {
  const devices = await db.device.findMany({
    where: {
      ...(where.ids ? { id: { in: where.ids } } : {}),
      ...(where.accountId ? { accountId: where.accountId } : {}),
      ...(page?.after ? { id: { gt: page.after } } : {}),
    },
    orderBy: { id: 'asc' },
    ...(page ? { take: page.limit } : {}),
  });
  const counts = await countAssetsBy(
    db,
    'device',
    devices.map((d) => d.id),
  );
  return devices.map((d) => ({
    id: d.id,
    name: d.name,
    platform: d.platform,
    accountId: d.accountId,
    lastSeenAt: d.lastSeenAt?.toISOString() ?? null,
    revokedAt: d.revokedAt?.toISOString() ?? null,
    createdAt: d.createdAt.toISOString(),
    counts: counts.get(d.id)!,
    bytesReceived: Number(d.bytesReceived),
  }));
}
