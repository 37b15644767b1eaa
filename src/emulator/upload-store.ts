import { sniffMedia, type MediaType } from '../media/sniff.ts';
import type { Clock } from './clock.ts';
import type { EmulatorConfig } from './config.ts';
import type { StreamDigest } from './digest.ts';
import { imageDimensions } from './dimensions.ts';
import { ids } from './ids.ts';

/** What Google knows about a finished upload: content identity and the format it sniffed, never the bytes. */
export interface UploadedBlob {
  sha256: string;
  size: number;
  media: MediaType | null;
  dimensions?: { width: number; height: number };
}

export interface UploadToken {
  token: string;
  email: string;
  clientId: string;
  blob: UploadedBlob;
  fileName: string;
  createdAt: number;
  expiresAt: number;
  uses: number;
  expired: boolean;
}

export type SessionStatus = 'active' | 'final' | 'cancelled';

export interface ResumableSession {
  id: string;
  email: string;
  clientId: string;
  rawSize: number;
  declaredType: string;
  fileName: string;
  granularity: number;
  expiresAt: number;
  status: SessionStatus;
  /** Bytes Google has persisted; a chunk works on a fork and only replaces this when it commits. */
  persisted: StreamDigest;
  /** The request currently writing into the session, so a newer one can supersede it (as after a silent cut). */
  writer?: { abort(): void; settled: Promise<void>; persistedSoFar(): number };
}

export async function describeBlob(digest: StreamDigest): Promise<UploadedBlob> {
  const media = await sniffMedia(digest.head);
  const dimensions = media?.kind === 'photo' ? imageDimensions(digest.head) : undefined;
  return { sha256: digest.hex(), size: digest.size, media, ...(dimensions ? { dimensions } : {}) };
}

export class UploadStore {
  readonly #tokens = new Map<string, UploadToken>();
  readonly #sessions = new Map<string, ResumableSession>();

  constructor(
    private readonly clock: Clock,
    private readonly config: EmulatorConfig,
  ) {}

  issueToken(p: { email: string; clientId: string; blob: UploadedBlob; fileName: string }): UploadToken {
    const now = this.clock.now();
    const t: UploadToken = { ...p, token: ids.uploadToken(), createdAt: now, expiresAt: now + this.config.uploadTokenTtlMs, uses: 0, expired: false };
    this.#tokens.set(t.token, t);
    return t;
  }

  /** A token is only valid for the account and app that uploaded it, within its lifetime (and unused, if reuse is off). */
  validToken(token: string, email: string, clientId: string): UploadToken | undefined {
    const t = this.#tokens.get(token);
    if (!t || t.expired || t.email !== email || t.clientId !== clientId) return undefined;
    if (this.clock.now() >= t.expiresAt) return undefined;
    if (!this.config.uploadTokenReuse && t.uses > 0) return undefined;
    return t;
  }

  expireTokens(email?: string): number {
    let n = 0;
    for (const t of this.#tokens.values()) {
      if (!t.expired && (email === undefined || t.email === email)) {
        t.expired = true;
        n++;
      }
    }
    return n;
  }

  openSession(p: Pick<ResumableSession, 'email' | 'clientId' | 'rawSize' | 'declaredType' | 'fileName' | 'persisted'>): ResumableSession {
    const s: ResumableSession = {
      ...p,
      id: ids.session(),
      granularity: this.config.chunkGranularity,
      expiresAt: this.clock.now() + this.config.resumableSessionTtlMs,
      status: 'active',
    };
    this.#sessions.set(s.id, s);
    return s;
  }

  /** The session with its lifetime applied: an expired active session reads as cancelled. */
  session(id: string): ResumableSession | undefined {
    const s = this.#sessions.get(id);
    if (s && s.status === 'active' && this.clock.now() >= s.expiresAt) s.status = 'cancelled';
    return s;
  }
}
