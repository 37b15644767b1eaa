import type pg from 'pg';
import type { Db } from '../db/client.ts';
import { Prisma } from '../db/generated/client.ts';
import { namedQuery } from './named-query.ts';
import type { Clock, Tx } from './tx.ts';
import type { DeliveryRef } from './scheduler.ts';
import { BATCH_CREATE_MAX, inBacklog, readyForCreate, stillToUpload } from './backlog.ts';

/**
 * The delivery state machine, and the only code that changes a delivery. Every transition names the states it may
 * start from in its WHERE clause and reports whether it happened: a duplicate job run (a lost lock, a redelivery)
 * finds the row already moved on and changes nothing, so `backed_up` can never go back to `uploading`.
 *
 *   pending ──beginUpload──▶ uploading ──recordUploadToken──▶ uploading+token ──markBackedUp──▶ backed_up
 *      ▲                         │  ▲                               │
 *      └──── returnForUpload ────┼──┴───────────────────────────────┘ (token refused or expired)
 *   failed ◀──────── fail ───────┘ (from pending or uploading)      failed ──retryFailed──▶ pending
 */
/** What saving an upload token tells the account's create job. */
export interface TokenSaved {
  /** Tokens ready for a batchCreate now, counted up to BATCH_CREATE_MAX. */
  ready: number;
  /**
   * Other deliveries of the account still to be uploaded (not waiting out a backoff), counted up to
   * STILL_TO_UPLOAD_COUNTED: 0 means this was the last. Seen from this statement's snapshot, which misses uploads
   * committing at the same instant.
   */
  stillToUpload: number;
}

/**
 * Uploads of one account that can finish at the same instant: at most a worker's admitted jobs (a few workers').
 * At or below this many still to upload, an upload that saved its token looks again for a due create (upload-step.ts).
 */
export const TAIL_UPLOADS = 48;

// Counted a little past TAIL_UPLOADS, so "at most TAIL_UPLOADS still to come" is an answer the count can give.
const STILL_TO_UPLOAD_COUNTED = TAIL_UPLOADS + 16;

/** A held upload token a batchCreate can take. */
export interface ReadyToken {
  id: string;
  upload_token: string;
  attempts: number;
  file_name: string | null;
  blob_sha256: string;
  upload_token_expires_at: Date;
}

/** Everything an upload job reads before it sends, in one round trip: the delivery, its blob, its account's gate. */
export interface UploadView {
  id: string;
  accountId: string;
  state: 'pending' | 'uploading' | 'backed_up' | 'failed';
  attempts: number;
  uploadToken: string | null;
  uploadTokenExpiresAt: Date | null;
  uploadSessionUrl: string | null;
  blob: { sha256: string; size: number; mimeType: string; stored: boolean };
  /** The name Google gets: the account's first asset of this content. */
  fileName: string | null;
  account: {
    forwarding: 'active' | 'paused';
    googleStatus: string;
    throttledUntil: Date | null;
    /** The link's sealed refresh token as read now: lets the token cache check the link without reading it again. */
    sealedRefreshToken: Buffer | null;
  };
}

interface UploadRow {
  id: string;
  account_id: string;
  state: UploadView['state'];
  attempts: number;
  upload_token: string | null;
  upload_token_expires_at: Date | null;
  upload_session_url: string | null;
  blob_sha256: string;
  size: string;
  mime_type: string;
  stored: boolean;
  file_name: string | null;
  forwarding: UploadView['account']['forwarding'];
  google_status: string;
  throttled_until: Date | null;
  google_refresh_token: Buffer | null;
}

// `d` a delivery (as stored, or as just updated), `b` its blob, `a` its account.
const UPLOAD_VIEW_COLUMNS = Prisma.sql`d.id, d.account_id, d.state::text AS state, d.attempts, d.upload_token, d.upload_token_expires_at,
  d.upload_session_url, d.blob_sha256, b.size, b.mime_type, b.stored, a.forwarding::text AS forwarding,
  a.google_status::text AS google_status, a.throttled_until, a.google_refresh_token,
  (SELECT s.file_name FROM assets s WHERE s.account_id = d.account_id AND s.blob_sha256 = d.blob_sha256 ORDER BY s.created_at LIMIT 1) AS file_name`;

function toUploadView(r: UploadRow): UploadView {
  return {
    id: r.id,
    accountId: r.account_id,
    state: r.state,
    attempts: r.attempts,
    uploadToken: r.upload_token,
    uploadTokenExpiresAt: r.upload_token_expires_at,
    uploadSessionUrl: r.upload_session_url,
    blob: { sha256: r.blob_sha256, size: Number(r.size), mimeType: r.mime_type, stored: r.stored },
    fileName: r.file_name,
    account: {
      forwarding: r.forwarding,
      googleStatus: r.google_status,
      throttledUntil: r.throttled_until,
      sealedRefreshToken: r.google_refresh_token,
    },
  };
}

export class DeliveryLedger {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    /** For the statements every upload to Google runs (forUpload, beginUpload, recordUploadToken): see namedQuery. */
    private readonly pool: pg.Pool,
  ) {}

  /** The delivery as an upload job sees it (when beginUpload did not move it: to tell why). */
  async forUpload(id: string): Promise<UploadView | null> {
    const rows = await namedQuery<UploadRow>(this.pool, 'delivery-for-upload', Prisma.sql`
      SELECT ${UPLOAD_VIEW_COLUMNS}
      FROM deliveries d JOIN blobs b ON b.sha256 = d.blob_sha256 JOIN accounts a ON a.id = d.account_id
      WHERE d.id = ${id}::uuid`);
    return rows[0] ? toUploadView(rows[0]) : null;
  }

  /**
   * pending, or uploading without a usable token (a retry; a token expiring before `freshUntil`) → uploading, counting
   * the attempt, if the account's gate is open (forwarding active, Google linked, no 429 wait running): what the
   * upload needs comes back from the same statement, one round trip on the common path. Null: nothing moved (the
   * delivery is done, holds a good token, or its account is held; forUpload tells which).
   */
  async beginUpload(id: string, freshUntil: Date): Promise<UploadView | null> {
    const now = this.clock();
    const rows = await namedQuery<UploadRow>(this.pool, 'delivery-begin-upload', Prisma.sql`
      WITH begun AS (
        UPDATE deliveries d SET state = 'uploading', attempts = d.attempts + 1, next_attempt_at = NULL,
          upload_token = NULL, upload_token_expires_at = NULL, updated_at = ${now}
        FROM accounts a
        WHERE d.id = ${id}::uuid AND a.id = d.account_id AND d.state IN ('pending', 'uploading')
          AND (d.upload_token IS NULL OR d.upload_token_expires_at <= ${freshUntil})
          AND a.forwarding = 'active' AND a.google_status = 'linked' AND (a.throttled_until IS NULL OR a.throttled_until <= ${now})
        RETURNING d.*)
      SELECT ${UPLOAD_VIEW_COLUMNS}
      FROM begun d JOIN blobs b ON b.sha256 = d.blob_sha256 JOIN accounts a ON a.id = d.account_id`);
    return rows[0] ? toUploadView(rows[0]) : null;
  }

  /** Remember a resumable session so a crash resumes it instead of sending the bytes again. */
  async saveUploadSession(id: string, session: string): Promise<boolean> {
    const saved = await this.db.$executeRaw`
      UPDATE deliveries SET upload_session_url = ${session}, updated_at = ${this.clock()}
      WHERE id = ${id}::uuid AND state = 'uploading' AND upload_token IS NULL`;
    return saved === 1;
  }

  /**
   * uploading → uploading with a token: the bytes are at Google; only the media item is left to create. Null when the
   * delivery moved on meanwhile. Else, read in the same statement, what the account's create job needs to hear: how
   * many tokens are ready to become media items now (this one included, counted up to a batch), and how many other
   * uploads of the account are still to finish (worth gathering for).
   */
  async recordUploadToken(id: string, token: string, expiresAt: Date, freshUntil: Date): Promise<TokenSaved | null> {
    const now = this.clock();
    // The outer reads see the table as it was before the UPDATE (one snapshot): this delivery still without a token.
    const rows = await namedQuery<{ ready: number; still_to_upload: number }>(this.pool, 'delivery-record-upload-token', Prisma.sql`
      WITH saved AS (
        UPDATE deliveries SET upload_token = ${token}, upload_token_expires_at = ${expiresAt}, upload_session_url = NULL,
          last_error = NULL, updated_at = ${now}
        WHERE id = ${id}::uuid AND state = 'uploading' AND upload_token IS NULL
        RETURNING account_id)
      SELECT
        1 + (SELECT count(*)::int FROM (
          SELECT 1 FROM deliveries d WHERE d.account_id = saved.account_id AND ${readyForCreate('d', freshUntil, now)}
          LIMIT ${BATCH_CREATE_MAX - 1}) r) AS ready,
        (SELECT count(*)::int FROM (
          SELECT 1 FROM deliveries d WHERE d.account_id = saved.account_id AND d.id <> ${id}::uuid AND ${stillToUpload('d', now)}
          LIMIT ${STILL_TO_UPLOAD_COUNTED}) r) AS still_to_upload
      FROM saved`);
    const row = rows[0];
    return row ? { ready: row.ready, stillToUpload: row.still_to_upload } : null;
  }

  /** Whether an account holds tokens a batchCreate could take now. */
  async hasReadyTokens(accountId: string, freshUntil: Date): Promise<boolean> {
    const rows = await this.db.$queryRaw<{ ready: boolean }[]>`
      SELECT EXISTS (SELECT 1 FROM deliveries d WHERE d.account_id = ${accountId}::uuid AND ${readyForCreate('d', freshUntil, this.clock())}) AS ready`;
    return rows[0]?.ready === true;
  }

  /**
   * The account's create lock, for the transaction: one batchCreate at a time per account, across workers and
   * machines. False when another holds it.
   */
  async lockCreates(tx: Tx, accountId: string): Promise<boolean> {
    const [row] = await tx.$queryRaw<{ locked: boolean }[]>`
      SELECT pg_try_advisory_xact_lock(hashtextextended(${'create:' + accountId}, 0)) AS locked`;
    return row?.locked === true;
  }

  /**
   * Up to a batch of the account's tokens ready to become media items, oldest first (those in `first` before all),
   * locked for the transaction; rows another transaction holds are skipped. Each with the file name its first asset
   * gave the content.
   */
  async takeReadyTokens(tx: Tx, accountId: string, at: { freshUntil: Date; now: Date; first: string[] }): Promise<ReadyToken[]> {
    return tx.$queryRaw<ReadyToken[]>`
      SELECT d.id, d.upload_token, d.attempts, d.blob_sha256, d.upload_token_expires_at,
        (SELECT a.file_name FROM assets a WHERE a.account_id = d.account_id AND a.blob_sha256 = d.blob_sha256 ORDER BY a.created_at LIMIT 1) AS file_name
      FROM deliveries d
      WHERE d.account_id = ${accountId}::uuid AND ${readyForCreate('d', at.freshUntil, at.now)}
      ORDER BY (d.id = ANY(${at.first}::uuid[])) DESC, d.created_at
      LIMIT ${BATCH_CREATE_MAX}
      FOR UPDATE OF d SKIP LOCKED`;
  }

  /** When the first of the account's held tokens waiting out a backoff is due (null: none is). */
  async nextTokenRetryAt(tx: Tx, accountId: string, now: Date): Promise<Date | null> {
    const [next] = await tx.$queryRaw<{ at: Date | null }[]>`
      SELECT min(next_attempt_at) AS at FROM deliveries
      WHERE account_id = ${accountId}::uuid AND state = 'uploading' AND upload_token IS NOT NULL AND next_attempt_at > ${now}`;
    return next?.at ?? null;
  }

  /** How many of the account's deliveries are still to be uploaded (not waiting out a backoff). */
  async uploadsStillToCome(tx: Tx, accountId: string, now: Date): Promise<number> {
    const [row] = await tx.$queryRaw<{ outstanding: number }[]>`
      SELECT count(*)::int AS outstanding FROM deliveries d WHERE d.account_id = ${accountId}::uuid AND ${stillToUpload('d', now)}`;
    return row?.outstanding ?? 0;
  }

  /**
   * Whether a gathering create should run now rather than wait: tokens are ready, and either a whole batch of them
   * or nothing more is coming.
   */
  async createDue(accountId: string, freshUntil: Date): Promise<boolean> {
    const now = this.clock();
    const rows = await this.db.$queryRaw<{ due: boolean }[]>`
      SELECT ready >= ${BATCH_CREATE_MAX}
        OR (ready > 0 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.account_id = ${accountId}::uuid AND ${stillToUpload('d', now)})) AS due
      FROM (SELECT count(*)::int AS ready FROM (
        SELECT 1 FROM deliveries d WHERE d.account_id = ${accountId}::uuid AND ${readyForCreate('d', freshUntil, now)}
        LIMIT ${BATCH_CREATE_MAX}) r) counted`;
    return rows[0]?.due === true;
  }

  /**
   * uploading with a token → backed_up: Google made these media items. One statement for a whole batchCreate's
   * successes (it runs under the account's create lock, which 50 single updates held for a quarter second under
   * load). Answers the ids that moved; one missing had moved on meanwhile.
   */
  async markBackedUp(tx: Tx, made: { id: string; mediaItemId: string | null }[]): Promise<Set<string>> {
    if (made.length === 0) return new Set();
    const at = this.clock();
    const rows = await tx.$queryRaw<{ id: string }[]>`
      UPDATE deliveries d SET state = 'backed_up', media_item_id = m.media_item_id, backed_up_at = ${at}, last_error = NULL,
        upload_token = NULL, upload_token_expires_at = NULL, upload_session_url = NULL, next_attempt_at = NULL, updated_at = ${at}
      FROM unnest(${made.map((m) => m.id)}::uuid[], ${made.map((m) => m.mediaItemId)}::text[]) AS m(id, media_item_id)
      WHERE d.id = m.id AND d.state = 'uploading' AND d.upload_token IS NOT NULL
      RETURNING d.id::text AS id`;
    return new Set(rows.map((r) => r.id));
  }

  /** pending or uploading → failed, for good (until an admin retries): the one way to fail a delivery. */
  async fail(id: string, reason: string, tx?: Tx): Promise<boolean> {
    const moved = await (tx ?? this.db).$executeRaw`
      UPDATE deliveries SET state = 'failed', last_error = ${reason}, upload_token = NULL, upload_token_expires_at = NULL,
        upload_session_url = NULL, next_attempt_at = NULL, updated_at = ${this.clock()}
      WHERE id = ${id}::uuid AND state IN ('pending', 'uploading')`;
    return moved === 1;
  }

  /**
   * A transient refusal: keep the delivery where it is, note why, and say when to try again (null: whenever the
   * job runs next). `attempts` adjusts the count: +1 for a failure that counts, -1 to give back an attempt a
   * rate limit or the quota took, 0 to leave it.
   */
  async deferRetry(ids: string[], change: { reason: string; nextAttemptAt: Date | null; attempts?: -1 | 0 | 1 }, tx?: Tx): Promise<number> {
    if (ids.length === 0) return 0;
    const delta = change.attempts ?? 0;
    return (tx ?? this.db).$executeRaw`
      UPDATE deliveries SET last_error = ${change.reason}, next_attempt_at = ${change.nextAttemptAt},
        attempts = GREATEST(attempts + ${delta}::int, 0), updated_at = ${this.clock()}
      WHERE id = ANY(${ids}::uuid[]) AND state IN ('pending', 'uploading')`;
  }

  /** Note why a whole batch stopped (re-auth, quota) without changing its state or schedule. */
  async noteError(tx: Tx, ids: string[], reason: string): Promise<number> {
    return tx.$executeRaw`
      UPDATE deliveries SET last_error = ${reason}, updated_at = ${this.clock()}
      WHERE id = ANY(${ids}::uuid[]) AND state IN ('pending', 'uploading')`;
  }

  /** uploading (with a token Google refused) → pending: the bytes must be sent again. */
  async returnForUpload(tx: Tx, ids: string[], reason: string): Promise<number> {
    return tx.$executeRaw`
      UPDATE deliveries SET state = 'pending', upload_token = NULL, upload_token_expires_at = NULL, upload_session_url = NULL,
        last_error = ${reason}, updated_at = ${this.clock()}
      WHERE id = ANY(${ids}::uuid[]) AND state = 'uploading'`;
  }

  /** Tokens too close to their end to be worth using: back to pending, to be sent again. */
  async expireTokens(freshUntil: Date, accountId?: string): Promise<number> {
    const only = accountId ?? null;
    return this.db.$executeRaw`
      UPDATE deliveries SET state = 'pending', upload_token = NULL, upload_token_expires_at = NULL, updated_at = ${this.clock()}
      WHERE state = 'uploading' AND upload_token IS NOT NULL AND upload_token_expires_at <= ${freshUntil}
        AND (${only}::uuid IS NULL OR account_id = ${only}::uuid)`;
  }

  /** failed → pending, by id or for an account (an admin's retry). Attempts and the last reason stay for the record. */
  async retryFailed(where: { ids?: string[]; accountId?: string }): Promise<number> {
    const ids = where.ids ?? null;
    const account = where.accountId ?? null;
    return this.db.$executeRaw`
      UPDATE deliveries SET state = 'pending', next_attempt_at = NULL, upload_token = NULL, upload_token_expires_at = NULL,
        upload_session_url = NULL, updated_at = ${this.clock()}
      WHERE state = 'failed' AND (${ids}::uuid[] IS NULL OR id = ANY(${ids}::uuid[]))
        AND (${account}::uuid IS NULL OR account_id = ${account}::uuid)`;
  }

  /**
   * One page of the deliveries the scheduler should have jobs for, in key order after `afterId`: bytes still to send
   * (`upload`), or tokens waiting for their media item (`create`), of accounts that may forward now.
   */
  async schedulable(afterId: string | null, limit: number, accountId?: string): Promise<Array<DeliveryRef & { hasToken: boolean }>> {
    const only = accountId ?? null;
    const rows = await this.db.$queryRaw<{ id: string; account_id: string; has_token: boolean }[]>`
      SELECT d.id, d.account_id, d.upload_token IS NOT NULL AS has_token
      FROM deliveries d JOIN accounts a ON a.id = d.account_id
      WHERE ${inBacklog('d')} AND a.forwarding = 'active' AND a.google_status = 'linked'
        AND (${only}::uuid IS NULL OR d.account_id = ${only}::uuid)
        AND (${afterId}::uuid IS NULL OR d.id > ${afterId}::uuid)
      ORDER BY d.id
      LIMIT ${limit}`;
    return rows.map((r) => ({ id: r.id, accountId: r.account_id, hasToken: r.has_token }));
  }
}
