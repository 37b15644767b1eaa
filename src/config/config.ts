import path from 'node:path';

/** Typed configuration, read from the environment once at start-up. */
export interface Config {
  databaseUrl: string;
  redisUrl: string;
  /** Prefix of every Redis key (BullMQ queues, rate limits) so several relays or test files can share one Redis. */
  redisPrefix: string;
  host: string;
  port: number;
  publicUrl: string;
  /** The relay's own files: the spool and (demo mode) its generated secrets live under it unless overridden. */
  dataDir: string;
  spoolDir: string;
  adminToken: string | undefined;
  encryptionKey: Buffer | undefined;
  maxUploadBytes: number;
  logLevel: string;
  /** Temp files untouched for this long belong to a dead upload and are swept. */
  staleTempMs: number;
  sweepIntervalMs: number;
  shutdownGraceMs: number;
  /** An upload whose body makes no progress for this long is aborted (every door: native, WebDAV, …). */
  uploadIdleMs: number;
  resumable: {
    /** An upload nobody appends to for this long expires (404) and is swept; a completed one is remembered as long. */
    ttlMs: number;
    /** Unfinished uploads one device may hold at once; the next creation is refused (429). */
    maxOpenPerDevice: number;
    /** The largest append clients are told to send (Upload-Limit max-append-size); the relay takes larger ones too. */
    maxAppendBytes: number;
    /** An append that would leave less free space than this on the spool is refused (507) before a byte is written. */
    minFreeBytes: number;
  };
  forwarding: {
    /** The most uploads to Google one account may have in flight from one worker process (the window's ceiling). */
    maxConcurrency: number;
    /** Grow and shrink the window with Google's answers (AIMD); off: always maxConcurrency. */
    adaptiveConcurrency: boolean;
  };
  /** Entries (files and folders) one device's WebDAV view may hold: a COPY must not double it without end. */
  davMaxEntries: number;
  /** Budget of one WebDAV tree transaction (a COPY or MOVE of a large folder): past it, 503 and a rollback. */
  davTransactionTimeoutMs: number;
  /** Honour X-Forwarded-For from a reverse proxy (only behind one: otherwise clients could pick their own address). */
  trustProxy: boolean;
  /** Failed pairing attempts one client may make per 15 minutes. */
  pairingMaxFailures: number;
  /** Failed token checks one client may make per 5 minutes. */
  authMaxFailures: number;
  /** A request other than an upload must have arrived whole (headers and body) within this. */
  requestTimeoutMs: number;
  /** Open connections the API accepts at once; more are closed on arrival. */
  maxConnections: number;
  /** How old the ledger figures behind the /metrics gauges may be before a scrape reads them again. */
  metricsRefreshMs: number;
  google: {
    clientId: string | undefined;
    clientSecret: string | undefined;
    photosApiUrl: string;
    authUrl: string;
    tokenUrl: string;
    revokeUrl: string;
    dailyRequestLimit: number;
    appStatus: 'production' | 'testing';
    /** A request to Google that makes no progress this long (takes no bytes, sends no answer) is abandoned and retried. */
    idleTimeoutMs: number;
  };
  retentionHours: number;
  keepOriginals: boolean;
  /** No Google client configured: the bundled emulator stands in for Google. */
  demoMode: boolean;
  /** Where demo mode runs the bundled emulator (127.0.0.1 only). */
  demoEmulatorPort: number;
  /**
   * Start although accounts were linked by another OAuth client (or by demo mode) than the one configured now:
   * those accounts are put in needs_reauth instead of the start being refused.
   */
  acceptGoogleClientChange: boolean;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const GIB = 1024 ** 3;

/** Parse and validate; every problem is collected so one start-up attempt reports them all. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const read = new EnvReader(env, problems);

  const port = read.int('PORT', 8080, 0, 65535);
  // Google's client ids never hold spaces or parentheses; the ledger records demo links as "(demo)".
  const googleClientId = read.optional('GOOGLE_CLIENT_ID', /^[^\s()]+$/);
  const dataDir = path.resolve(read.string('DATA_DIR', './data'));
  const demoMode = googleClientId === undefined;

  const config: Config = {
    databaseUrl: read.url('DATABASE_URL', 'postgresql://postgres@127.0.0.1:5432/photo_relay', ['postgres:', 'postgresql:']),
    redisUrl: read.url('REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']),
    redisPrefix: read.string('REDIS_PREFIX', 'photo-relay', /^[A-Za-z0-9_.-]{1,64}$/),
    host: read.string('HOST', '0.0.0.0'),
    port,
    publicUrl: read.url('PUBLIC_URL', `http://localhost:${port}`, ['http:', 'https:']).replace(/\/+$/, ''),
    dataDir,
    spoolDir: path.resolve(read.optional('SPOOL_DIR') ?? path.join(dataDir, 'spool')),
    adminToken: read.optional('ADMIN_TOKEN'),
    encryptionKey: read.base64Key('ENCRYPTION_KEY', 32),
    maxUploadBytes: read.int('MAX_UPLOAD_BYTES', 20 * GIB, 1, Number.MAX_SAFE_INTEGER),
    logLevel: read.oneOf('LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    staleTempMs: read.int('STALE_TEMP_MINUTES', 15, 0, 10_000) * 60_000,
    sweepIntervalMs: read.int('SWEEP_INTERVAL_MINUTES', 10, 1, 10_000) * 60_000,
    shutdownGraceMs: read.int('SHUTDOWN_GRACE_SECONDS', 30, 1, 3600) * 1000,
    uploadIdleMs: read.int('UPLOAD_IDLE_SECONDS', 60, 1, 3600) * 1000,
    resumable: {
      ttlMs: read.int('RESUMABLE_UPLOAD_TTL_SECONDS', 24 * 3600, 1, 365 * 24 * 3600) * 1000,
      maxOpenPerDevice: read.int('RESUMABLE_MAX_OPEN_PER_DEVICE', 100, 1, 1_000_000),
      // From 64 KiB: a smaller append would cost a disk flush per few packets.
      maxAppendBytes: read.int('RESUMABLE_MAX_APPEND_BYTES', 64 * 1024 * 1024, 64 * 1024, Number.MAX_SAFE_INTEGER),
      minFreeBytes: read.int('RESUMABLE_MIN_FREE_BYTES', 0, 0, Number.MAX_SAFE_INTEGER),
    },
    forwarding: {
      maxConcurrency: read.int('FORWARD_MAX_CONCURRENCY', 16, 1, 256),
      adaptiveConcurrency: read.bool('FORWARD_ADAPTIVE_CONCURRENCY', true),
    },
    davMaxEntries: read.int('DAV_MAX_ENTRIES_PER_DEVICE', 100_000, 1, 100_000_000),
    davTransactionTimeoutMs: read.int('DAV_TRANSACTION_TIMEOUT_SECONDS', 60, 1, 3600) * 1000,
    trustProxy: read.bool('TRUST_PROXY', false),
    pairingMaxFailures: read.int('PAIRING_MAX_FAILURES', 10, 1, 100_000),
    authMaxFailures: read.int('AUTH_MAX_FAILURES', 50, 1, 100_000),
    requestTimeoutMs: read.int('REQUEST_TIMEOUT_SECONDS', 30, 1, 3600) * 1000,
    maxConnections: read.int('MAX_CONNECTIONS', 1024, 1, 1_000_000),
    metricsRefreshMs: read.int('METRICS_REFRESH_SECONDS', 15, 0, 3600) * 1000,
    google: {
      clientId: googleClientId,
      clientSecret: read.optional('GOOGLE_CLIENT_SECRET'),
      photosApiUrl: read.url('GOOGLE_PHOTOS_API_URL', 'https://photoslibrary.googleapis.com', ['http:', 'https:']).replace(/\/+$/, ''),
      authUrl: read.url('GOOGLE_OAUTH_AUTH_URL', 'https://accounts.google.com/o/oauth2/v2/auth', ['http:', 'https:']),
      tokenUrl: read.url('GOOGLE_OAUTH_TOKEN_URL', 'https://oauth2.googleapis.com/token', ['http:', 'https:']),
      revokeUrl: read.url('GOOGLE_OAUTH_REVOKE_URL', 'https://oauth2.googleapis.com/revoke', ['http:', 'https:']),
      dailyRequestLimit: read.int('GOOGLE_DAILY_REQUEST_LIMIT', 10_000, 1, 10_000_000),
      appStatus: read.oneOf('GOOGLE_APP_STATUS', 'production', ['production', 'testing'] as const),
      idleTimeoutMs: read.int('GOOGLE_UPLOAD_IDLE_TIMEOUT_SECONDS', 60, 1, 3600) * 1000,
    },
    retentionHours: read.int('RETENTION_HOURS', 24, 0, 100_000),
    keepOriginals: read.bool('KEEP_ORIGINALS', false),
    demoMode,
    demoEmulatorPort: read.int('DEMO_EMULATOR_PORT', 8090, 1, 65535),
    acceptGoogleClientChange: read.bool('ACCEPT_GOOGLE_CLIENT_CHANGE', false),
  };
  if (demoMode) {
    // Demo mode forwards to the bundled emulator, whatever Google URLs the environment names.
    const emulator = `http://127.0.0.1:${config.demoEmulatorPort}`;
    config.google = {
      ...config.google,
      photosApiUrl: emulator,
      authUrl: `${emulator}/o/oauth2/v2/auth`,
      tokenUrl: `${emulator}/token`,
      revokeUrl: `${emulator}/revoke`,
    };
  }

  if (demoMode && config.google.clientSecret) {
    problems.push('GOOGLE_CLIENT_SECRET is set but GOOGLE_CLIENT_ID is not: set both to back up to Google, or neither for demo mode');
  }
  if (!demoMode) {
    if (!config.google.clientSecret) problems.push('GOOGLE_CLIENT_SECRET is required when GOOGLE_CLIENT_ID is set');
    if (!config.adminToken) problems.push('ADMIN_TOKEN is required outside demo mode (at least 32 characters)');
    // A malformed key was reported already; only a missing one is reported here.
    if (!config.encryptionKey && read.optional('ENCRYPTION_KEY') === undefined)
      problems.push('ENCRYPTION_KEY is required outside demo mode (32 random bytes, base64: `openssl rand -base64 32`)');
  }
  if (config.adminToken !== undefined && config.adminToken.length < 32) {
    problems.push('ADMIN_TOKEN must be at least 32 characters');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

class EnvReader {
  constructor(
    private readonly env: Env,
    private readonly problems: string[],
  ) {}

  optional(name: string, pattern?: RegExp): string | undefined {
    const value = this.env[name]?.trim();
    if (value === undefined || value === '') return undefined;
    if (pattern && !pattern.test(value)) this.problems.push(`${name} must match ${pattern}`);
    return value;
  }

  string(name: string, fallback: string, pattern?: RegExp): string {
    const value = this.optional(name) ?? fallback;
    if (pattern && !pattern.test(value)) this.problems.push(`${name} must match ${pattern}`);
    return value;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const raw = this.optional(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
      this.problems.push(`${name} must be a whole number from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return value;
  }

  bool(name: string, fallback: boolean): boolean {
    const raw = this.optional(name)?.toLowerCase();
    if (raw === undefined) return fallback;
    if (['true', '1', 'yes'].includes(raw)) return true;
    if (['false', '0', 'no'].includes(raw)) return false;
    this.problems.push(`${name} must be true or false (got "${raw}")`);
    return fallback;
  }

  oneOf<T extends string>(name: string, fallback: T, allowed: readonly T[]): T {
    const raw = this.optional(name);
    if (raw === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(raw)) {
      this.problems.push(`${name} must be one of ${allowed.join(', ')} (got "${raw}")`);
      return fallback;
    }
    return raw as T;
  }

  url(name: string, fallback: string, protocols: string[]): string {
    const raw = this.optional(name) ?? fallback;
    try {
      const url = new URL(raw);
      if (!protocols.includes(url.protocol)) throw new Error('protocol');
    } catch {
      this.problems.push(`${name} must be a ${protocols.join(' or ')} URL`);
    }
    return raw;
  }

  base64Key(name: string, bytes: number): Buffer | undefined {
    const raw = this.optional(name);
    if (raw === undefined) return undefined;
    const key = Buffer.from(raw, 'base64');
    if (key.length !== bytes || key.toString('base64').replace(/=+$/, '') !== raw.replace(/=+$/, '')) {
      this.problems.push(`${name} must be ${bytes} bytes encoded as base64`);
      return undefined;
    }
    return key;
  }
}
