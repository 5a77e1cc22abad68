/**
 * `npm run bench`: every figure of the benchmark (README, "Benchmark"), as one table printed and written to
 * bench-results/latest.md. BENCH_RUNS sets the runs per figure (default 5); BENCH_ONLY (comma-separated parts of
 * figure names, e.g. "outbox drain") measures only those figures. Exits non-zero only when a figure could not be
 * measured; a missed goal is reported in the table, not as a failure.
 */
import '../test/support/registerFakeVscode'; // first: the views and the extension require('vscode')
import * as fs from 'fs';
import * as path from 'path';
import { activation } from './activation';
import { chatPanel } from './chatPanel';
import { outboxDrain } from './drain';
import { encryption } from './encryption';
import { inbound } from './inbound';
import { machineInfo, Row, table } from './measure';
import { peersView } from './peersView';
import { inboundViews } from './inboundViews';
import { exthostPersistence, persistence } from './persistence';
import { reconnect } from './reconnect';

const FIGURES: { name: string; measure: (runs: number) => Row[] | Promise<Row[]> }[] = [
  { name: 'outbox drain', measure: outboxDrain },
  { name: 'encryption', measure: encryption },
  { name: 'persistence', measure: persistence },
  { name: 'persistence in the real extension host', measure: exthostPersistence },
  { name: 'inbound', measure: inbound },
  { name: 'peers view', measure: peersView },
  { name: 'activation', measure: activation },
  { name: 'inbound message end to end', measure: inboundViews },
  { name: 'reconnect', measure: reconnect },
  { name: 'chat panel', measure: chatPanel },
];

function runsFromEnv(): number {
  const raw = process.env.BENCH_RUNS ?? '5';
  const runs = Number(raw);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`BENCH_RUNS must be a whole number of runs, 1 or more (got "${raw}")`);
  return runs;
}

/** The figures BENCH_ONLY names (all when unset); a name matching none is an error, not an empty table. */
function figuresFromEnv(): typeof FIGURES {
  const only = (process.env.BENCH_ONLY ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  if (only.length === 0) return FIGURES;
  const unknown = only.filter((part) => !FIGURES.some((f) => f.name.includes(part)));
  if (unknown.length) throw new Error(`BENCH_ONLY names no figure: "${unknown.join('", "')}" (figures: ${FIGURES.map((f) => f.name).join(', ')})`);
  return FIGURES.filter((f) => only.some((part) => f.name.includes(part)));
}

async function main(): Promise<void> {
  const runs = runsFromEnv();
  const figures = figuresFromEnv();
  const info = machineInfo(runs);
  console.log(info.join('\n'));
  const rows: Row[] = [];
  for (const figure of figures) {
    const started = Date.now();
    rows.push(...(await figure.measure(runs)));
    console.log(`  measured ${figure.name} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  const result = table(rows);
  console.log(`\n${result}`);
  const outDir = path.resolve(__dirname, '../../bench-results');
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'latest.md'), `# Benchmark results\n\n${info.map((line) => `- ${line}`).join('\n')}\n\n${result}\n`);
  console.log(`\nwritten to ${path.relative(process.cwd(), path.join(outDir, 'latest.md')) || 'bench-results/latest.md'}`);
}

main().catch((err: Error) => {
  console.error(`benchmark failed: ${err.stack ?? err.message}`);
  process.exitCode = 1;
});
