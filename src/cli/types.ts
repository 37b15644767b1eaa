/** The shapes of the relay's answers the CLI reads (docs/api.md). Extra fields are ignored. */

export interface Counts {
  pending: number;
  uploading: number;
  backedUp: number;
  failed: number;
  needsReauth: number;
  paused: number;
}

export interface Account {
  id: string;
  name: string;
  google: { status: 'unlinked' | 'linked' | 'needs_reauth'; email?: string; linkedAt?: string; error?: string };
  forwarding: 'active' | 'paused';
  counts: Counts;
  backlogBytes: number;
  devices: number;
}

export interface Device {
  id: string;
  name: string;
  platform: string;
  accountId: string;
  lastSeenAt: string | null;
  revokedAt?: string | null;
  counts: Counts;
  bytesReceived: number;
}

export interface CreatedDevice {
  deviceId: string;
  token: string;
  accountId: string;
  nextcloudLoginUrl: string;
}

export interface Pairing {
  code: string;
  expiresAt: string;
  pairUrl: string;
}

export interface Paired {
  deviceId: string;
  token: string;
  accountId: string;
}

export interface AssetCreated {
  id: string;
  sha256: string;
  size: number;
  mimeType: string;
  state: string;
  duplicate: boolean;
}

export interface QueueDepths {
  waiting?: number;
  prioritized?: number;
  active?: number;
  delayed?: number;
  failed?: number;
  [state: string]: number | undefined;
}

export interface Status {
  demoMode?: boolean;
  queues: Record<string, QueueDepths>;
  quota: { usedToday: number; dailyLimit: number; resetsAt: string };
  accounts: {
    id: string;
    name?: string;
    backlog: number;
    backlogBytes?: number;
    failed?: number;
    quotaUsedToday?: number;
    etaSeconds: number | null;
    held?: string | null;
  }[];
  storage: { blobs: number; bytes: number; freeBytes: number };
}
