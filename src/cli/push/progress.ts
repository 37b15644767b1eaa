import type cliProgress from 'cli-progress';
import { bytes, duration } from '../format.ts';

export type Outcome = 'uploaded' | 'registered' | 'known' | 'nonmedia' | 'failed';

const LABEL: Record<Outcome, string> = {
  uploaded: 'uploaded  ',
  registered: 'by hash   ',
  known: 'on device ',
  nonmedia: 'skipped   ',
  failed: 'FAILED    ',
};

/** Bytes per second over the last few seconds. */
class Rate {
  private samples: [number, number][] = [];
  private total = 0;
  add(delta: number, now = Date.now()): void {
    this.total += delta;
    this.samples.push([now, this.total]);
    while (this.samples.length > 2 && now - this.samples[0]![0] > 5000) this.samples.shift();
  }
  perSecond(now = Date.now()): number {
    const first = this.samples[0];
    if (!first || now - first[0] < 200) return 0;
    return Math.max(0, (this.total - first[1]) / ((now - first[0]) / 1000));
  }
}

/**
 * Progress of a push. On a terminal: a bar (files, bytes, rate, ETA) with warnings printed above it. Otherwise
 * (a pipe, a log file, CI): one plain line per file.
 */
export class Reporter {
  /** cli-progress, loaded only for a terminal (see create). */
  private progress?: typeof cliProgress;
  private multibar?: cliProgress.MultiBar;
  private bar?: cliProgress.SingleBar;
  private files = 0;
  private totalFiles = 0;
  private doneBytes = 0;
  private totalBytes = 0;
  private unit: 'bytes' | 'files' = 'files';
  private rate = new Rate();
  private ticker?: NodeJS.Timeout;

  constructor(
    private readonly out: NodeJS.WriteStream,
    /** Whether to print a line per file in plain mode. */
    private readonly verbose = true,
    readonly interactive = !!out.isTTY,
  ) {}

  static async create(out: NodeJS.WriteStream, verbose = true): Promise<Reporter> {
    const reporter = new Reporter(out, verbose);
    if (reporter.interactive) reporter.progress = (await import('cli-progress')).default;
    return reporter;
  }

  private line(text: string): void {
    if (this.multibar) this.multibar.log(`${text}\n`);
    else this.out.write(`${text}\n`);
  }

  info(text: string): void {
    this.line(text);
  }

  warn(text: string): void {
    this.line(`warning: ${text}`);
  }

  /** Start a phase: a bar on a terminal, one line otherwise. The bar counts bytes when `totalBytes` > 0. */
  start(title: string, totalFiles: number, totalBytes: number): void {
    this.end();
    this.files = 0;
    this.totalFiles = totalFiles;
    this.doneBytes = 0;
    this.totalBytes = totalBytes;
    this.unit = totalBytes > 0 ? 'bytes' : 'files';
    this.rate = new Rate();
    if (!this.interactive) {
      if (totalFiles > 0) this.out.write(`${title}: ${totalFiles} files${totalBytes ? `, ${bytes(totalBytes)}` : ''}\n`);
      return;
    }
    if (totalFiles === 0 || !this.progress) return;
    this.multibar = new this.progress.MultiBar(
      {
        format: `${title.padEnd(10)} {bar} {percentage}% | {files} files | {bytes} | {rate} | ETA {etaText}`,
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        stream: this.out,
        fps: 8,
        barsize: 30,
        autopadding: true,
      },
      this.progress.Presets.shades_classic,
    );
    this.bar = this.multibar.create(this.unit === 'bytes' ? totalBytes : totalFiles, 0, this.payload());
    // Redraw while a large file streams, so the rate and ETA stay live.
    this.ticker = setInterval(() => this.redraw(), 500);
    this.ticker.unref();
  }

  private payload() {
    const rate = this.rate.perSecond();
    const remaining = this.unit === 'bytes' ? this.totalBytes - this.doneBytes : this.totalFiles - this.files;
    const perSecond = this.unit === 'bytes' ? rate : this.filesRate();
    const etaText = remaining <= 0 ? '0 s' : perSecond > 0 ? duration(remaining / perSecond) : '…';
    return {
      files: `${this.files}/${this.totalFiles}`,
      bytes: `${bytes(this.doneBytes)}/${bytes(this.totalBytes)}`,
      rate: `${bytes(rate)}/s`,
      etaText,
    };
  }

  private startedAt = Date.now();
  private filesRate(): number {
    const seconds = (Date.now() - this.startedAt) / 1000;
    return seconds > 0.2 ? this.files / seconds : 0;
  }

  private redraw(): void {
    this.bar?.update(this.unit === 'bytes' ? Math.max(0, this.doneBytes) : this.files, this.payload());
  }

  /** Bytes moved (hashed or sent); negative to take back the bytes of a failed attempt. */
  addBytes(delta: number): void {
    this.doneBytes += delta;
    this.rate.add(delta);
  }

  /** Change the bytes this phase will move: less after a rejected upload, more when a by-hash falls back to sending. */
  adjustPlanned(delta: number): void {
    if (delta === 0) return;
    this.totalBytes = Math.max(0, this.totalBytes + delta);
    if (this.unit === 'bytes') this.bar?.setTotal(Math.max(1, this.totalBytes));
  }

  /** One file finished; in plain mode, one line per file (failures and skips are always shown). */
  fileDone(rel: string, outcome?: Outcome, detail?: string): void {
    this.files++;
    if (this.files === 1) this.startedAt = Date.now();
    if (outcome) {
      const text = `${LABEL[outcome]}${rel}${detail ? `  ${detail}` : ''}`;
      const notable = outcome === 'failed' || outcome === 'nonmedia';
      if (this.interactive) {
        if (notable) this.line(text);
      } else if (this.verbose) {
        this.line(`[${String(this.files).padStart(String(this.totalFiles).length)}/${this.totalFiles}] ${text}`);
      } else if (notable) this.line(text);
    }
    this.redraw();
  }

  end(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    if (this.multibar) {
      this.redraw();
      this.multibar.stop();
    }
    this.multibar = undefined;
    this.bar = undefined;
  }
}
