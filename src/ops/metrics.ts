import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Db } from '../db/client.ts';
import type { ForwardQueues } from '../forwarding/queue.ts';
import { QuotaLedger } from '../forwarding/quota.ts';
import type { Config } from '../config/config.ts';
import { tokenHealth } from '../google/token-health.ts';

/**
 * The relay's Prometheus series. Counters count what this process did; gauges are read from Postgres and
 * Redis at scrape time, so they tell the whole household's truth whichever process is scraped.
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

  constructor(deps: { db: Db; queues: ForwardQueues; config: Config; clock: () => Date }) {
    collectDefaultMetrics({ register: this.registry, prefix: 'photo_relay_process_' });
    const { db, queues, config, clock } = deps;
    const dailyLimit = config.google.dailyRequestLimit;
    const quota = new QuotaLedger(db, dailyLimit, clock);
    new Gauge({
      name: 'photo_relay_google_quota_used',
      help: 'Google requests counted today (the day runs midnight to midnight Pacific)',
      registers: [this.registry],
      async collect() {
        this.set((await quota.status()).usedToday);
      },
    });
    new Gauge({ name: 'photo_relay_google_quota_limit', help: 'The daily Google request budget', registers: [this.registry] }).set(dailyLimit);
    new Gauge({
      name: 'photo_relay_queue_depth',
      help: 'Forwarding jobs by queue and state',
      labelNames: ['queue', 'state'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        const depths = await queues.depths().catch(() => ({}) as Record<string, Record<string, number>>);
        for (const [queue, states] of Object.entries(depths)) for (const [state, n] of Object.entries(states)) this.set({ queue, state }, n);
      },
    });
    new Gauge({
      name: 'photo_relay_backlog_items',
      help: 'Deliveries not yet in Google Photos, by account',
      labelNames: ['account'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        const rows = await db.$queryRaw<{ account_id: string; n: bigint }[]>`
          SELECT a.id AS account_id, count(d.id) AS n FROM accounts a
          LEFT JOIN deliveries d ON d.account_id = a.id AND d.state IN ('pending', 'uploading') GROUP BY a.id`;
        for (const r of rows) this.set({ account: r.account_id }, Number(r.n));
      },
    });
    new Gauge({
      name: 'photo_relay_deliveries',
      help: 'Deliveries (content × account) by state',
      labelNames: ['state'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        const rows = await db.$queryRaw<{ state: string; n: bigint }[]>`SELECT state::text, count(*) AS n FROM deliveries GROUP BY 1`;
        for (const r of rows) this.set({ state: r.state }, Number(r.n));
      },
    });
    new Gauge({
      name: 'photo_relay_accounts_needing_reauth',
      help: 'Accounts whose Google link failed, was removed, or (Testing-status app) expires within a day',
      registers: [this.registry],
      async collect() {
        const accounts = await db.account.findMany({ select: { googleStatus: true, googleLinkedAt: true, googleError: true } });
        const now = clock();
        this.set(accounts.filter((a) => a.googleStatus === 'revoked' || ['failed', 'expiring'].includes(tokenHealth(config, a, now).health)).length);
      },
    });
  }
}
