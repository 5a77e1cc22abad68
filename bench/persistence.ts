/**
 * Figure 3, persistence, through a store that behaves like VS Code's workspaceState (bench/memento.ts: the whole
 * object serialised once per flush, flushes batched per tick). What one sent message (enqueue → sending → acked) and
 * one received message cost in bytes serialised, with 10,000 messages of history against 10. The history starts in
 * workspaceState as earlier versions stored it and moves to the log when the client starts (the real migration).
 * Ours: workspaceState holds the unsent outbox, history goes to the log (LogStore, its bytes counted too, compaction
 * included). "Before" is the layout this replaced: everything in workspaceState.
 */
import { randomUUID } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MeshClient } from '../src/broker/client';
import type { SessionKey } from '../src/broker/connection';
import { generateKeypair } from '../src/broker/crypto';
import { LogStore } from '../src/broker/history';
import { DM_TEXT } from './encryption';
import { dmPushes, senderPeer } from './inbound';
import { MementoStore } from './memento';
import { Pair, ratioRow, Row, until } from './measure';
import { BENCH_MESH_ID, benchMesh, ScriptedBroker } from './scriptedBroker';

const SHALLOW = 10;
const DEEP = 10_000;
const MEASURED = 100;

interface Cost {
  /** Bytes serialised (workspaceState flushes plus log writes) per message. */
  sendBytes: number;
  receiveBytes: number;
  sendFlushes: number;
}

/** `history` received messages, stored as earlier versions left them in workspaceState: one record each. */
function seed(store: MementoStore, history: number, sender: SessionKey): void {
  for (let seq = 1; seq <= history; seq++) {
    void store.update(`claudemesh.inbox/${BENCH_MESH_ID}/${String(seq).padStart(12, '0')}`, {
      seq,
      id: randomUUID(),
      brokerMessageId: randomUUID().replace(/-/g, ''),
      meshId: BENCH_MESH_ID,
      senderPubkey: sender.pubkey,
      kind: 'direct',
      text: `${seq}: ${DM_TEXT}`,
      priority: 'next',
      createdAt: new Date().toISOString(),
      receivedAt: Date.now() - 1_000_000 + seq,
    });
  }
}

async function cost(broker: ScriptedBroker, history: number, layout: 'ours' | 'before', measured: number): Promise<Cost> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'claudemesh-bench-persist-'));
  const store = new MementoStore();
  const sender = generateKeypair();
  const sessionKey = generateKeypair();
  seed(store, history, sender);
  const log = layout === 'ours' ? new LogStore(path.join(dir, 'history.jsonl')) : undefined;
  broker.peers = [senderPeer(sender)];
  const client = new MeshClient({ mesh: benchMesh(broker.url), store, history: log, sessionKey, sessionId: `bench-persist-${randomUUID()}`, cwd: '/tmp', rateLimit: false, maxHistory: 2 * DEEP });
  const written = () => store.bytesSerialised + (log?.bytesWritten ?? 0);
  try {
    const socketIndex = broker.helloed.length;
    client.connect();
    await until(() => client.state.kind === 'connected' && client.peers.length === 1, 'the client to connect');
    await client.flush();
    await log?.flush();
    if (client.history.length !== history) throw new Error(`persistence: expected ${history} messages of history, found ${client.history.length}`);

    let before = written();
    const flushesBefore = store.flushes;
    for (let i = 0; i < measured; i++) {
      await client.send(sender.pubkey, DM_TEXT);
      await until(() => client.outbox.every((r) => r.status === 'sent'), 'the message to be acked');
      await client.flush();
    }
    await log?.flush();
    const sendBytes = (written() - before) / measured;
    const sendFlushes = (store.flushes - flushesBefore) / measured;

    before = written();
    const frames = dmPushes(measured, sender, sessionKey);
    broker.clientAcks = 0;
    const socket = broker.helloed[socketIndex];
    for (const frame of frames) {
      const acks = broker.clientAcks;
      socket.send(frame);
      await until(() => broker.clientAcks > acks, 'the message to be stored and acked');
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
    await log?.flush();
    if (client.history.length !== history + measured) throw new Error('persistence: a received message was not stored');
    return { sendBytes, receiveBytes: (written() - before) / measured, sendFlushes };
  } finally {
    await client.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function persistence(runs: number): Promise<Row[]> {
  const broker = await ScriptedBroker.start();
  const send: Pair[] = [];
  const receive: Pair[] = [];
  const flushes: Pair[] = [];
  const before: Pair[] = [];
  try {
    for (let run = 0; run < runs; run++) {
      const deep = await cost(broker, DEEP, 'ours', MEASURED);
      const shallow = await cost(broker, SHALLOW, 'ours', MEASURED);
      send.push({ ours: deep.sendBytes, baseline: shallow.sendBytes });
      receive.push({ ours: deep.receiveBytes, baseline: shallow.receiveBytes });
      flushes.push({ ours: deep.sendFlushes, baseline: shallow.sendFlushes });
      // The layout this replaced: fewer messages, each one costs megabytes.
      const oldDeep = await cost(broker, DEEP, 'before', 10);
      const oldShallow = await cost(broker, SHALLOW, 'before', 10);
      before.push({ ours: oldDeep.sendBytes + oldDeep.receiveBytes, baseline: oldShallow.sendBytes + oldShallow.receiveBytes });
    }
  } finally {
    await broker.close();
  }
  return [
    ratioRow('3a. Bytes serialised per sent message (Memento-faithful workspaceState + history log), 10,000 vs 10 history', 'B', send, { atMost: 1.5 }),
    ratioRow('3b. Bytes serialised per received message, same stores, 10,000 vs 10 history', 'B', receive, { atMost: 1.5 }),
    ratioRow('3c. workspaceState flushes per sent message, 10,000 vs 10 history', 'flush(es)', flushes, { atMost: 1.5 }),
    ratioRow('3d. For comparison, the layout this replaced (history in workspaceState): bytes per sent + received message', 'B', before),
  ];
}

/**
 * Figure 3e/3f from the real extension host: the e2e suite (test/e2e/suite/extension.test.ts) measures ms per enqueue
 * in code-server's real workspaceState and writes bench-results/exthost.json; this reports it beside 3a–3d, with when
 * it was measured. Run `npm test` (or scripts/e2e.sh) first to refresh it.
 */
export function exthostPersistence(): Row[] {
  const file = path.resolve(__dirname, '../../bench-results/exthost.json');
  let measured: { measuredAt: string; vscodeVersion: string; appName: string; ours: { deep: number; shallow: number }; before: { deep: number; shallow: number } };
  try {
    measured = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof measured;
  } catch {
    const none: Row = { name: '3e. Real extension host: not measured yet (run scripts/e2e.sh, which writes bench-results/exthost.json)', ours: '—', baseline: '—', ratio: '—', goal: '≤ 1.5×', result: '—' };
    return [none];
  }
  const where = `${measured.appName} ${measured.vscodeVersion}, ${measured.measuredAt.slice(0, 16)}Z`;
  return [
    ratioRow(`3e. Real extension host (${where}): ms per enqueue into workspaceState, 10,000 vs 10 history`, 'ms', [{ ours: measured.ours.deep, baseline: measured.ours.shallow }], { atMost: 1.5 }),
    ratioRow(`3f. The same in the layout this replaced (history in workspaceState)`, 'ms', [{ ours: measured.before.deep, baseline: measured.before.shallow }]),
  ];
}
