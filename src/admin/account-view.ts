import { Type } from '@sinclair/typebox';
import type { Services } from '../services.ts';
import { tokenHealth } from '../google/token-health.ts';
import { countAssetsBy } from '../assets/asset-view.ts';
import { Counts, Timestamp } from '../http/schemas.ts';
import { inBacklog } from '../ledger/backlog.ts';

export const AccountSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  google: Type.Object({
    status: Type.Union([Type.Literal('unlinked'), Type.Literal('linked'), Type.Literal('needs_reauth')]),
    email: Type.Optional(Type.String()),
    linkedAt: Type.Optional(Timestamp),
    error: Type.Optional(Type.String()),
    health: Type.Union([Type.Literal('ok'), Type.Literal('expiring'), Type.Literal('failed'), Type.Literal('unlinked')], {
      description: 'failed: Google refused the link; expiring: a Testing-status app\'s 7-day token is about to end',
    }),
    warning: Type.Optional(Type.String()),
  }),
  forwarding: Type.Union([Type.Literal('active'), Type.Literal('paused')]),
  counts: Counts,
  backlogBytes: Type.Integer(),
  devices: Type.Integer(),
  createdAt: Timestamp,
});

export async function accountViews(services: Services, where: { ids?: string[] }, page?: { limit: number; after?: string }) {
  const { db } = services;
  const accounts = await db.account.findMany({
    where: { ...(where.ids ? { id: { in: where.ids } } : {}), ...(page?.after ? { id: { gt: page.after } } : {}) },
    orderBy: { id: 'asc' },
    ...(page ? { take: page.limit } : {}),
    include: { _count: { select: { devices: { where: { revokedAt: null } } } } },
  });
  const ids = accounts.map((a) => a.id);
  const counts = await countAssetsBy(db, 'account', ids);
  const backlog = await db.$queryRaw<{ account_id: string; bytes: bigint }[]>`
    SELECT d.account_id, sum(b.size) AS bytes FROM deliveries d JOIN blobs b ON b.sha256 = d.blob_sha256
    WHERE d.account_id = ANY(${ids}::uuid[]) AND ${inBacklog('d')} GROUP BY 1`;
  const backlogBytes = new Map(backlog.map((r) => [r.account_id, Number(r.bytes)]));
  return accounts.map((a) => ({
    id: a.id,
    name: a.name,
    google: {
      // An admin unlink is reported as unlinked; its assets still show needs_reauth until re-linked.
      status: a.googleStatus === 'revoked' ? ('unlinked' as const) : a.googleStatus,
      ...(a.googleEmail ? { email: a.googleEmail } : {}),
      ...(a.googleLinkedAt ? { linkedAt: a.googleLinkedAt.toISOString() } : {}),
      ...(a.googleError ? { error: a.googleError } : {}),
      ...tokenHealth(services.config, a, services.clock()),
    },
    forwarding: a.forwarding,
    counts: counts.get(a.id)!,
    backlogBytes: backlogBytes.get(a.id) ?? 0,
    devices: a._count.devices,
    createdAt: a.createdAt.toISOString(),
  }));
}
