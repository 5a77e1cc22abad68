/**
 * Figure 8, reconnect: how long after the broker is reachable again each client is connected, after a 30 s outage.
 * TRIALS clients with today's policy (full jitter, capped at 8 s while the outage is younger than 2 minutes) and as
 * many with the previous one (full jitter capped at 30 s throughout) share one real 30 s outage of a broker on
 * 127.0.0.1: the broker stops listening (every attempt is refused), then listens again on the same port. Real time,
 * real jitter: each client's wait is one trial; the figure is the median over the trials.
 */
import { MeshClient } from '../src/broker/client';
import { generateKeypair } from '../src/broker/crypto';
import { MemoryStore } from '../src/broker/store';
import { absoluteRow, median, now, Pair, ratioRow, Row } from './measure';
import { benchMesh, ScriptedBroker } from './scriptedBroker';

const TRIALS = 24;
const OUTAGE_MS = 30_000;

function connected(client: MeshClient): Promise<void> {
  if (client.state.kind === 'connected') return Promise.resolve();
  return new Promise((resolve) => {
    const sub = client.onDidChangeState((state) => {
      if (state.kind !== 'connected') return;
      sub.dispose();
      resolve();
    });
  });
}

export async function reconnect(): Promise<Row[]> {
  let broker = await ScriptedBroker.start();
  const port = Number(new URL(broker.url).port);
  const make = (youngBackoffMaxMs?: number) =>
    new MeshClient({
      mesh: benchMesh(broker.url),
      store: new MemoryStore(),
      sessionKey: generateKeypair(),
      sessionId: `bench-reconnect-${Math.random()}`,
      cwd: '/tmp',
      ...(youngBackoffMaxMs ? { timing: { youngBackoffMaxMs } } : {}),
    });
  const ours = Array.from({ length: TRIALS }, () => make());
  const before = Array.from({ length: TRIALS }, () => make(30_000));
  const all = [...ours, ...before];
  try {
    for (const client of all) client.connect();
    await Promise.all(all.map(connected));
    await broker.close();
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    broker = await ScriptedBroker.start(port);
    if (Number(new URL(broker.url).port) !== port) throw new Error('reconnect: the broker came back on another port');
    const back = now();
    const waits = await Promise.all(all.map((client) => connected(client).then(() => (now() - back) / 1000)));
    const oursWaits = waits.slice(0, TRIALS);
    const beforeWaits = waits.slice(TRIALS);
    const pair: Pair = { ours: median(oursWaits), baseline: median(beforeWaits) };
    return [
      absoluteRow(`8a. Reconnect after a 30 s outage: broker back → connected, median of ${TRIALS} clients`, 's', oursWaits, { atMost: 3 }),
      ratioRow(`8b. The same, vs the previous policy (30 s cap throughout), ${TRIALS} clients each, one outage`, 's', [pair]),
      absoluteRow(`8c. Spread kept (no thundering herd): the slowest of the ${TRIALS}`, 's', [Math.max(...oursWaits)]),
    ];
  } finally {
    await Promise.all(all.map((client) => client.dispose()));
    await broker.close();
  }
}
