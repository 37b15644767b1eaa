import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Db } from '../db/client.ts';
import type { ForwardQueues } from '../forwarding/queue.ts';
import { quotaStatus } from '../forwarding/quota.ts';
import type { Config } from '../config/config.ts';
import { tokenHealth } from '../google/token-health.ts';
import type { Logger } from 'pino';
import { inBacklog } from '../ledger/backlog.ts';

/**
 * The relay's Prometheus series. Counters count what this process did; gauges are read from Postgres and
 * Redis, so they tell the whole household's truth whichever process is scraped, but from a snapshot at most
 * METRICS_REFRESH_SECONDS old: a scrape (or anyone hitting /metrics) never costs a full scan of the ledger.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly uploads = new Counter({
    name: 'photo_relay_uploads_total',
    help: 'Uploads answered, by outcome (created, duplicate, or the error code)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly bytesReceived = new Counter({
    name: 'photo_relay_upload_bytes_received_total',
    help: 'Bytes of upload request bodies received',
    registers: [this.registry],
  });
  readonly resumableReceived = new Counter({
    name: 'photo_relay_resumable_bytes_received_total',
    help: 'Bytes of resumable-upload appends read off the network, kept or not',
    registers: [this.registry],
  });
  readonly resumableAppended = new Counter({
    name: 'photo_relay_resumable_bytes_appended_total',
    help: 'Bytes appended to resumable uploads and made durable: each byte of a file once, however often its upload was cut',
    registers: [this.registry],
  });
  readonly ingestDuration = new Histogram({
    name: 'photo_relay_ingest_duration_seconds',
    help: 'Time from an upload request to its answer',
    labelNames: ['outcome'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
    registers: [this.registry],
  });
  readonly forwardOutcomes = new Counter({
    name: 'photo_relay_forward_outcomes_total',
    help: 'Forwarding steps by outcome (uploaded, backed_up, failed, retry, reupload, rate_limited, quota_exhausted, reauth)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly googleRequests = new Counter({
    name: 'photo_relay_google_requests_total',
    help: 'Requests to the Google Photos Library API, by endpoint and HTTP status (0: no answer)',
    labelNames: ['endpoint', 'status'] as const,
    registers: [this.registry],
  });

  constructor(deps: { db: Db; queues: ForwardQueues; config: Config; clock: () => Date; log?: Logger }) {
    collectDefaultMetrics({ register: this.registry, prefix: 'photo_relay_process_' });
    const { config } = deps;
    const dailyLimit = config.google.dailyRequestLimit;
    const snapshots = new SnapshotCache(() => readLedger(deps), config.metricsRefreshMs, deps.log);
    new Gauge({
      name: 'photo_relay_google_quota_used',
      help: 'Google requests counted today (the day runs midnight to midnight Pacific)',
      registers: [this.registry],
      async collect() {
        const s = await snapshots.get();
        if (s) this.set(s.quotaUsed);
      },
    });
    new Gauge({ name: 'photo_relay_google_quota_limit', help: 'The daily Google request budget', registers: [this.registry] }).set(dailyLimit);
    new Gauge({
      name: 'photo_relay_queue_depth',
      help: 'Forwarding jobs by queue and state',
      labelNames: ['queue', 'state'] as const,
      registers: [this.registry],
      async collect() {
        const s = await snapshots.get();
        if (!s) return;
        this.reset();
        for (const [queue, states] of Object.entries(s.depths)) for (const [state, n] of Object.entries(states)) this.set({ queue, state }, n);
      },
    });
    new Gauge({
      name: 'photo_relay_backlog_items',
      help: 'Deliveries not yet in Google Photos, by account',
      labelNames: ['account'] as const,
      registers: [this.registry],
      async collect() {
        const s = await snapshots.get();
        if (!s) return;
        this.reset();
        for (const r of s.backlog) this.set({ account: r.account_id }, Number(r.n));
      },
    });
    new Gauge({
      name: 'photo_relay_deliveries',
      help: 'Deliveries (content × account) by state',
      labelNames: ['state'] as const,
      registers: [this.registry],
      async collect() {
        const s = await snapshots.get();
        if (!s) return;
        this.reset();
        for (const r of s.deliveries) this.set({ state: r.state }, Number(r.n));
      },
    });
    new Gauge({
      name: 'photo_relay_accounts_needing_reauth',
      help: 'Accounts whose Google link failed, was removed, or (Testing-status app) expires within a day',
      registers: [this.registry],
      async collect() {
        const s = await snapshots.get();
        if (s) this.set(s.needingReauth);
      },
    });
    new Gauge({
      name: 'photo_relay_metrics_snapshot_age_seconds',
      help: 'Age of the ledger figures above: they are read at most once per METRICS_REFRESH_SECONDS, not per scrape',
      registers: [this.registry],
      collect() {
        this.set(snapshots.ageSeconds());
      },
    });
  }
}

interface LedgerSnapshot {
  quotaUsed: number;
  depths: Record<string, Record<string, number>>;
  backlog: { account_id: string; n: bigint }[];
  deliveries: { state: string; n: bigint }[];
  needingReauth: number;
}

/** The gauges' figures, from Postgres and Redis: full scans, so read per refresh interval, never per scrape. */
async function readLedger(deps: { db: Db; queues: ForwardQueues; config: Config; clock: () => Date }): Promise<LedgerSnapshot> {
  const { db, queues, config, clock } = deps;
  const [status, depths, backlog, deliveries, accounts] = await Promise.all([
    quotaStatus(db, config.google.dailyRequestLimit, clock()),
    // Redis away: the queue series are left out rather than the whole scrape failing.
    queues.depths().catch(() => ({}) as Record<string, Record<string, number>>),
    db.$queryRaw<{ account_id: string; n: bigint }[]>`
      SELECT a.id AS account_id, count(d.id) AS n FROM accounts a
      LEFT JOIN deliveries d ON d.account_id = a.id AND ${inBacklog('d')} GROUP BY a.id`,
    db.$queryRaw<{ state: string; n: bigint }[]>`SELECT state::text, count(*) AS n FROM deliveries GROUP BY 1`,
    db.account.findMany({ select: { googleStatus: true, googleLinkedAt: true, googleError: true } }),
  ]);
  const now = clock();
  const needingReauth = accounts.filter(
    (a) => a.googleStatus === 'revoked' || ['failed', 'expiring'].includes(tokenHealth(config, a, now).health),
  ).length;
  return { quotaUsed: status.usedToday, depths, backlog, deliveries, needingReauth };
}

/**
 * The last snapshot, refreshed when older than `maxAgeMs` by one read however many scrapes (and gauges) ask at
 * once. A failed refresh keeps the last figures (their age gauge grows) and is logged; before any snapshot
 * exists the ledger gauges are simply absent.
 */
class SnapshotCache {
  private value: LedgerSnapshot | undefined;
  private readAt = 0;
  private pending: Promise<LedgerSnapshot | undefined> | undefined;

  constructor(
    private readonly read: () => Promise<LedgerSnapshot>,
    private readonly maxAgeMs: number,
    private readonly log?: Logger,
  ) {}

  ageSeconds(): number {
    return this.readAt === 0 ? 0 : (Date.now() - this.readAt) / 1000;
  }

  get(): Promise<LedgerSnapshot | undefined> {
    if (this.value && Date.now() - this.readAt < this.maxAgeMs) return Promise.resolve(this.value);
    this.pending ??= this.read()
      .then((value) => {
        this.value = value;
        this.readAt = Date.now();
        return value;
      })
      .catch((err: unknown) => {
        this.log?.warn({ err }, 'metrics: reading the ledger failed; serving the last figures');
        return this.value;
      })
      .finally(() => (this.pending = undefined));
    return this.pending;
  }
}
