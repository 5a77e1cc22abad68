/**
 * What every figure shares: medians over runs, ratios taken within one run (so a noisy machine slows both sides
 * alike), and the results table.
 */
import * as os from 'os';

export interface Row {
  name: string;
  ours: string;
  baseline: string;
  ratio: string;
  goal: string;
  result: 'pass' | 'miss' | '—';
}

/** One run's two numbers, measured back to back. */
export interface Pair {
  ours: number;
  baseline: number;
}

export type Goal = { atLeast: number } | { atMost: number };

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no samples: the figure produced no runs');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Three significant figures (whole numbers from 100 up), thousands separated: enough to compare, few enough to read. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const rounded = Math.abs(value) >= 100 ? Math.round(value) : Number(value.toPrecision(3));
  return rounded.toLocaleString('en-US', { maximumFractionDigits: 20 });
}

function goalText(goal: Goal | undefined, suffix: string): string {
  if (!goal) return '—';
  return 'atLeast' in goal ? `≥ ${goal.atLeast}${suffix}` : `≤ ${goal.atMost}${suffix}`;
}

function meets(goal: Goal | undefined, value: number): Row['result'] {
  if (!goal) return '—';
  return ('atLeast' in goal ? value >= goal.atLeast : value <= goal.atMost) ? 'pass' : 'miss';
}

/** ours ÷ baseline, the median of per-run ratios (not the ratio of medians). */
export function ratioRow(name: string, unit: string, pairs: readonly Pair[], goal?: Goal): Row {
  const ratio = median(pairs.map((p) => p.ours / p.baseline));
  return {
    name,
    ours: `${formatNumber(median(pairs.map((p) => p.ours)))} ${unit}`,
    baseline: `${formatNumber(median(pairs.map((p) => p.baseline)))} ${unit}`,
    ratio: `${formatNumber(ratio)}×`,
    goal: goalText(goal, '×'),
    result: meets(goal, ratio),
  };
}

/** A figure with no baseline: the goal is on the value itself. */
export function absoluteRow(name: string, unit: string, samples: readonly number[], goal?: Goal): Row {
  const value = median(samples);
  return { name, ours: `${formatNumber(value)} ${unit}`, baseline: '—', ratio: '—', goal: goalText(goal, ` ${unit}`), result: meets(goal, value) };
}

export function machineInfo(runs: number): string[] {
  const cpus = os.cpus();
  return [
    `CPU: ${cpus[0]?.model.trim() ?? 'unknown'} (${cpus.length} cores)`,
    `Node: ${process.version} on ${os.platform()} ${os.arch()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM`,
    `Date: ${new Date().toISOString()}`,
    `Runs per figure: ${runs} (medians; ratios are ours ÷ baseline within each run)`,
  ];
}

/** A Markdown table, padded so it also reads well in a terminal. */
export function table(rows: readonly Row[]): string {
  const header = ['figure', 'ours', 'baseline', 'ratio', 'goal', 'result'];
  const cells = rows.map((r) => [r.name, r.ours, r.baseline, r.ratio, r.goal, r.result]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (values: string[]) => `| ${values.map((v, i) => v.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** Milliseconds, sub-microsecond resolution. */
export function now(): number {
  return performance.now();
}

/** Resolves when `check` holds, re-checked on every event-loop turn; rejects after `limitMs` with what it waited for. */
export async function until(check: () => boolean, what: string, limitMs = 120_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`benchmark timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
