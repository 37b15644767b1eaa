/** One line of the summary table. Every figure in it was measured in this run. */
export interface Row {
  part: string;
  measure: string;
  relay: string;
  baseline: string;
  /** relay ÷ baseline, as defined in `measure`. */
  ratio: string;
  target: string;
  /** 'ok' / 'FAIL' against the target, '' when there is none. */
  verdict: '' | 'ok' | 'FAIL';
}

export interface PartResult {
  id: string;
  title: string;
  seconds: number;
  rows: Row[];
  /** Every measured number, for results/latest.json. */
  data: Record<string, unknown>;
  /** Things that looked wrong, with the evidence. */
  notes: string[];
}

export interface BenchContext {
  quick: boolean;
  /** Scratch directory for generated files (deleted at the end). */
  dataDir: string;
  log(line: string): void;
}

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** MB = 10^6 bytes throughout. */
export const mb = (bytes: number, digits = 1) => `${(bytes / 1e6).toFixed(digits)} MB`;
export const mbps = (bytes: number, seconds: number) => `${(bytes / 1e6 / seconds).toFixed(1)} MB/s`;
export const secs = (s: number) => (s < 1 ? `${(s * 1000).toFixed(1)} ms` : `${s.toFixed(2)} s`);
export const ms = (s: number) => `${(s * 1000).toFixed(1)} ms`;
export const ratio = (x: number) => `${x.toFixed(2)}×`;
export const size = (bytes: number) =>
  bytes >= GiB && bytes % GiB === 0 ? `${bytes / GiB} GiB` : bytes >= MiB && bytes % MiB === 0 ? `${bytes / MiB} MiB` : mb(bytes);
export const verdict = (ok: boolean): Row['verdict'] => (ok ? 'ok' : 'FAIL');

const HEADERS = ['part', 'measure', 'relay', 'baseline', 'relay/baseline', 'target', 'verdict'] as const;
const cells = (r: Row) => [r.part, r.measure, r.relay, r.baseline, r.ratio, r.target, r.verdict];

export function textTable(rows: Row[]): string {
  const all = [HEADERS as readonly string[], ...rows.map(cells)];
  const widths = HEADERS.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join(' │ ')
      .trimEnd();
  const rule = widths.map((w) => '─'.repeat(w)).join('─┼─');
  return [line(HEADERS), rule, ...rows.map((r) => line(cells(r)))].join('\n');
}

export function markdownTable(rows: Row[]): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  return [
    `| ${HEADERS.join(' | ')} |`,
    `|${HEADERS.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${cells(r).map(esc).join(' | ')} |`),
  ].join('\n');
}
