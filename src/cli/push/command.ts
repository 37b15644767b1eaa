import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import http from 'node:http';
import https from 'node:https';
import { stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { deviceToken } from '../config.ts';
import { contextOf, type Context } from '../context.ts';
import { ApiError, CliError, describeError, EXIT_FAILURE, UsageError } from '../errors.ts';
import { bytes, count, duration } from '../format.ts';
import { withRetries, type RelayClient } from '../http.ts';
import type { AssetCreated, Device, Paired } from '../types.ts';
import { uploadAsset } from './multipart.ts';
import { runPool } from './pool.ts';
import { Reporter, type Outcome } from './progress.ts';
import { DEFAULT_RESUMABLE_THRESHOLD, discoverResumable, ResumableUpload } from './resumable.ts';
import { LocalFileError } from './send.ts';
import { deviceAssetIdOf, fileNameOf, hashFile, scan, type LocalFile } from './scan.ts';

const CHECK_BATCH = 1000;

interface PushOptions {
  deviceToken?: string;
  pairCode?: string;
  deviceName: string;
  concurrency: number;
  strict?: boolean;
  quiet?: boolean;
  resumableThreshold: number;
  patchChecksum?: boolean;
}

export interface PushSummary {
  dir: string;
  deviceId?: string;
  filesSeen: number;
  uploaded: number;
  registeredByHash: number;
  alreadyOnDevice: number;
  skippedNonMedia: number;
  failed: number;
  bytesUploaded: number;
  seconds: number;
  failures: { file: string; error: string }[];
  pairedDevice?: Paired;
}

function bytesOption(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('must be a whole number of bytes');
  return n;
}

function concurrencyOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError('must be an integer from 1 to 64');
  return n;
}

export function registerPush(program: Command): void {
  program
    .command('push')
    .description('back up a folder as a device: upload only what the relay lacks, register the rest by hash')
    .argument('<dir>', 'the folder to back up (recursively; hidden files are skipped)')
    .option('--device-token <token>', 'the device token (default: $PHOTO_RELAY_DEVICE_TOKEN)')
    .option('--pair-code <code>', 'pair as a new device first (code from "photo-relay pair"); prints the new device token once')
    .option('--device-name <name>', "the new device's name when pairing", `${hostname()} (photo-relay CLI)`)
    .option('-c, --concurrency <n>', 'files uploaded at once (1-64)', concurrencyOption, 4)
    .option(
      '--resumable-threshold <bytes>',
      'files of this size or larger go through the resumable endpoint (tus): a cut connection resumes where the relay left off',
      bytesOption,
      DEFAULT_RESUMABLE_THRESHOLD,
    )
    .option('--patch-checksum', 'resumable uploads: send a SHA-256 of each PATCH (a cut PATCH is then sent again whole)')
    .option('--strict', 'count files the relay rejects as not a photo or video (415) as failures')
    .option('-q, --quiet', 'without a terminal, print only problems and the summary (no line per file)')
    .action(async (dir: string, opts: PushOptions, command: Command) => {
      const ctx = contextOf(command);
      const summary = await push(ctx, dir, opts);
      if (ctx.opts.json) ctx.json(summary);
      else printSummary(ctx, summary, !!opts.strict);
      if (summary.failed > 0 || (opts.strict && summary.skippedNonMedia > 0)) process.exitCode = EXIT_FAILURE;
    });
}

function printSummary(ctx: Context, s: PushSummary, strict: boolean): void {
  const w = String(s.filesSeen).length;
  const n = (x: number) => String(x).padStart(w);
  ctx.out(`Pushed ${s.dir} in ${duration(s.seconds)}`);
  ctx.out(`  files seen:           ${n(s.filesSeen)}`);
  ctx.out(`  uploaded:             ${n(s.uploaded)}`);
  ctx.out(`  registered by hash:   ${n(s.registeredByHash)}`);
  ctx.out(`  already on device:    ${n(s.alreadyOnDevice)}`);
  ctx.out(`  skipped non-media:    ${n(s.skippedNonMedia)}${s.skippedNonMedia && strict ? '  (failures: --strict)' : ''}`);
  ctx.out(`  failed:               ${n(s.failed)}`);
  ctx.out(`  bytes uploaded:       ${s.bytesUploaded} (${bytes(s.bytesUploaded)})`);
  if (s.failures.length) {
    ctx.out('Failures:');
    for (const f of s.failures.slice(0, 50)) ctx.out(`  ${f.file}: ${f.error}`);
    if (s.failures.length > 50) ctx.out(`  … and ${s.failures.length - 50} more`);
  }
}

async function resolveDevice(ctx: Context, opts: PushOptions, say: (text: string) => void): Promise<{ token: string; paired?: Paired }> {
  if (opts.pairCode && opts.deviceToken) throw new UsageError('give --pair-code or --device-token, not both');
  if (opts.pairCode) {
    const paired = await ctx
      .device(undefined)
      .post<Paired>('/api/v1/pair', { code: opts.pairCode, name: opts.deviceName, platform: 'cli' }, 'unsent');
    say(`Paired as a new device "${opts.deviceName}" (device ${paired.deviceId}, account ${paired.accountId}).`);
    say('Device token (shown once; keep it to push again without pairing):');
    say(`  ${paired.token}`);
    say(`  e.g. export PHOTO_RELAY_DEVICE_TOKEN=${paired.token}`);
    return { token: paired.token, paired };
  }
  const token = deviceToken(opts.deviceToken);
  if (!token) throw new UsageError('no device token: pass --device-token, set PHOTO_RELAY_DEVICE_TOKEN, or pair with --pair-code <code>');
  return { token };
}

export async function push(ctx: Context, dir: string, opts: PushOptions): Promise<PushSummary> {
  const started = Date.now();
  const root = path.resolve(dir);
  const info = await stat(root).catch(() => null);
  if (!info?.isDirectory()) throw new UsageError(`not a directory: ${dir}`);

  // With --json the summary owns stdout; everything else goes to stderr.
  const humanOut = ctx.opts.json ? process.stderr : process.stdout;
  const reporter = await Reporter.create(humanOut, !opts.quiet);
  const summary: PushSummary = {
    dir: root,
    filesSeen: 0,
    uploaded: 0,
    registeredByHash: 0,
    alreadyOnDevice: 0,
    skippedNonMedia: 0,
    failed: 0,
    bytesUploaded: 0,
    seconds: 0,
    failures: [],
  };
  const { token, paired } = await resolveDevice(ctx, opts, (t) => reporter.info(t));
  if (paired) summary.pairedDevice = paired;
  const policy = ctx.retryPolicy({
    onRetry: ({ what, delayMs, error, attempt }) =>
      reporter.warn(`${what}: ${describeError(error)}; retry ${attempt} in ${duration(delayMs / 1000)}`),
  });
  const client = ctx.device(token, policy);
  const me = await client.get<Device>('/api/v1/device');
  summary.deviceId = me.id;
  reporter.info(`Pushing ${root} as device "${me.name}" (${me.id}) to ${ctx.url}`);

  const onInterrupt = () => {
    reporter.end();
    process.stderr.write('\ninterrupted: nothing is lost; push again to continue (what the relay holds is not sent again)\n');
    process.exit(130);
  };
  process.once('SIGINT', onInterrupt);
  try {
    return await transfer(ctx, client, token, root, opts, reporter, summary, policy, started);
  } finally {
    reporter.end();
    process.off('SIGINT', onInterrupt);
  }
}

async function transfer(
  ctx: Context,
  client: RelayClient,
  token: string,
  root: string,
  opts: PushOptions,
  reporter: Reporter,
  summary: PushSummary,
  policy: ReturnType<Context['retryPolicy']>,
  started: number,
): Promise<PushSummary> {
  const fail = (file: string, error: string) => {
    summary.failed++;
    summary.failures.push({ file, error });
  };

  // 1. Walk the folder.
  const { files, unreadable } = await scan(root);
  summary.filesSeen = files.length;
  for (const u of unreadable) {
    reporter.warn(`cannot read ${u.rel}: ${u.reason}`);
    fail(u.rel, `cannot read: ${u.reason}`);
  }
  const totalBytes = files.reduce((n, f) => n + f.size, 0);
  reporter.info(`Found ${count(files.length)} files (${bytes(totalBytes)})`);

  // 2. Hash every file (streaming SHA-256).
  reporter.start('Hashing', files.length, totalBytes);
  const hashed: LocalFile[] = [];
  await runPool(files, Math.min(8, Math.max(2, opts.concurrency)), async (file) => {
    try {
      const { sha256, size } = await hashFile(file.abs);
      file.sha256 = sha256;
      file.size = size;
      hashed.push(file);
      reporter.addBytes(size);
      reporter.fileDone(file.rel);
    } catch (err) {
      reporter.fileDone(file.rel, 'failed', `cannot read: ${(err as Error).message}`);
      fail(file.rel, `cannot read: ${(err as Error).message}`);
    }
  });
  reporter.end();

  // 3. Ask which contents the relay lacks.
  const groups = new Map<string, LocalFile[]>();
  for (const f of hashed.sort((a, b) => (a.rel < b.rel ? -1 : 1))) {
    const list = groups.get(f.sha256!);
    if (list) list.push(f);
    else groups.set(f.sha256!, [f]);
  }
  const hashes = [...groups.keys()];
  const missing = new Set<string>();
  for (let i = 0; i < hashes.length; i += CHECK_BATCH) {
    const batch = hashes.slice(i, i + CHECK_BATCH);
    const answer = await client.post<{ missing: string[] }>('/api/v1/assets/check', { sha256: batch }, 'always');
    for (const h of answer.missing) missing.add(h.toLowerCase());
  }
  const bytesToSend = hashes.filter((h) => missing.has(h)).reduce((n, h) => n + groups.get(h)![0]!.size, 0);
  // What this device already has needs no call at all: by-hash would only answer "duplicate". Asked of the relay
  // (its asset list), not remembered here, and only when something is not missing.
  const onDevice = new Set<string>();
  if (missing.size < hashes.length) {
    for await (const asset of client.list<{ sha256: string }>('/api/v1/assets')) onDevice.add(asset.sha256.toLowerCase());
  }
  const notMissing = hashes.filter((h) => !missing.has(h));
  const filesOf = (list: string[]) => list.reduce((n, h) => n + groups.get(h)!.length, 0);
  reporter.info(
    `To upload: ${count(missing.size)} of ${count(hashes.length)} distinct contents (${bytes(bytesToSend)}); ` +
      `to register by hash: ${count(filesOf(notMissing.filter((h) => !onDevice.has(h))))} files; ` +
      `already on this device: ${count(filesOf(notMissing.filter((h) => onDevice.has(h))))} files`,
  );

  // 4. Upload what is missing (one copy per content), register everything else by hash.
  const agent = ctx.url.startsWith('https:')
    ? new https.Agent({ keepAlive: true, maxSockets: opts.concurrency })
    : new http.Agent({ keepAlive: true, maxSockets: opts.concurrency });
  let fatal: unknown;
  const done = (file: LocalFile, outcome: Outcome, detail?: string) => {
    if (outcome === 'failed') fail(file.rel, detail ?? 'failed');
    else if (outcome === 'uploaded') summary.uploaded++;
    else if (outcome === 'registered') summary.registeredByHash++;
    else if (outcome === 'known') summary.alreadyOnDevice++;
    else if (outcome === 'nonmedia') summary.skippedNonMedia++;
    reporter.fileDone(file.rel, outcome, detail);
  };
  const isFatal = (err: unknown) => err instanceof ApiError && (err.status === 401 || err.status === 403);
  const errorText = (err: unknown) => (err instanceof ApiError ? `${err.code}: ${err.serverMessage}` : describeError(err));
  const fields = (f: LocalFile) => ({
    deviceAssetId: deviceAssetIdOf(f.rel),
    fileName: fileNameOf(f.rel),
    fileCreatedAt: f.mtime.toISOString(),
  });

  // Large files go through the resumable endpoint, if the relay has one (asked once, when the first large file comes).
  let resumable: Promise<{ maxAppendBytes: number } | null> | undefined;
  const upload = async (f: LocalFile): Promise<void> => {
    const input = { abs: f.abs, size: f.size, fields: { ...fields(f), sha256: f.sha256! } };
    if (f.size >= opts.resumableThreshold) {
      resumable ??= withRetries('OPTIONS /api/v1/uploads', 'always', policy, () => discoverResumable(ctx.url, agent)).then((found) => {
        if (!found) reporter.warn('the relay has no resumable endpoint (/api/v1/uploads): large files go in one request each');
        return found;
      });
      const endpoint = await resumable;
      if (endpoint) {
        const session = new ResumableUpload(ctx.url, token, input, {
          agent,
          onBytes: (d) => reporter.addBytes(d),
          patchBytes: endpoint.maxAppendBytes,
          checksum: !!opts.patchChecksum,
          policy,
          onResume: (offset, size) =>
            reporter.warn(`${f.rel}: resuming at byte ${offset} of ${size} (what the relay holds is not sent again)`),
        });
        await session.run(`upload ${f.rel}`);
        return;
      }
    }
    await withRetries(`upload ${f.rel}`, 'always', policy, () =>
      uploadAsset(ctx.url, token, input, { agent, onBytes: (d) => reporter.addBytes(d) }),
    );
  };
  const byHash = (f: LocalFile) =>
    client.call<AssetCreated>('POST', '/api/v1/assets/by-hash', { body: { sha256: f.sha256, ...fields(f) }, retry: 'always' });

  async function processGroup(sha: string): Promise<void> {
    const queue = [...groups.get(sha)!];
    let needBytes = missing.has(sha);
    // Once the device has this content, every other copy of it is a duplicate the relay would not record.
    let deviceHas = !needBytes && onDevice.has(sha);
    let fellBack = false;
    while (queue.length > 0) {
      const f = queue.shift()!;
      if (fatal) return done(f, 'failed', 'not attempted: ' + errorText(fatal));
      if (deviceHas) {
        done(f, 'known');
      } else if (needBytes) {
        try {
          await upload(f);
          summary.bytesUploaded += f.size;
          needBytes = false;
          deviceHas = true;
          done(f, 'uploaded', bytes(f.size));
        } catch (err) {
          if (isFatal(err)) fatal ??= err;
          if (err instanceof ApiError && err.status === 415) {
            reporter.adjustPlanned(-f.size);
            done(f, 'nonmedia', `not a photo or video (${err.status} ${err.code})`);
            for (const same of queue.splice(0)) done(same, 'nonmedia', `not a photo or video (same content as ${f.rel})`);
            return;
          }
          done(f, 'failed', errorText(err));
          // A copy that changed on disk says nothing about the others: try the next copy of this content.
          if ((err instanceof LocalFileError || (err instanceof ApiError && err.code === 'hash_mismatch')) && queue.length > 0) continue;
          reporter.adjustPlanned(-f.size);
          for (const same of queue.splice(0)) done(same, 'failed', `same content as ${f.rel}, which failed: ${errorText(err)}`);
          return;
        }
      } else {
        try {
          const res = await byHash(f);
          deviceHas = true;
          done(f, res.status === 201 ? 'registered' : 'known');
        } catch (err) {
          if (isFatal(err)) fatal ??= err;
          // The relay no longer holds the bytes (e.g. they went between check and now): send them after all.
          if (err instanceof ApiError && err.status === 404 && !fellBack) {
            fellBack = true;
            needBytes = true;
            reporter.adjustPlanned(f.size);
            queue.unshift(f);
            continue;
          }
          done(f, 'failed', errorText(err));
        }
      }
    }
  }

  reporter.start('Uploading', hashed.length, bytesToSend);
  // Contents to upload first, largest first, so the long transfers start early and the bar's ETA settles.
  const order = hashes.sort((a, b) => Number(missing.has(b)) - Number(missing.has(a)) || groups.get(b)![0]!.size - groups.get(a)![0]!.size);
  try {
    await runPool(order, opts.concurrency, processGroup);
  } finally {
    reporter.end();
    agent.destroy();
  }
  summary.seconds = (Date.now() - started) / 1000;
  if (fatal) {
    printPartial(ctx, summary);
    throw fatal instanceof CliError ? fatal : new CliError(describeError(fatal));
  }
  return summary;
}

function printPartial(ctx: Context, s: PushSummary): void {
  ctx.warn(
    `stopped: ${s.uploaded} uploaded (${bytes(s.bytesUploaded)}), ${s.registeredByHash} registered by hash, ${s.alreadyOnDevice} already on device, ${s.failed} failed`,
  );
}
