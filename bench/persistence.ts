/**
 * Figure 3, persistence: what one more message costs the store (writes and bytes) when 10,000 are already queued,
 * against the same with 10 queued. One record per row should make these equal; rewriting the queue would not.
 */
import { MeshClient } from '../src/broker/client';
import { generateKeypair } from '../src/broker/crypto';
import { MemoryStore } from '../src/broker/store';
import { DM_TEXT } from './encryption';
import { Pair, ratioRow, Row } from './measure';
import { benchMesh } from './scriptedBroker';

const SHALLOW = 10;
const DEEP = 10_000;
const MEASURED = 100;

/** A client that is never told to connect, so every message stays queued. */
function offlineClient(store: MemoryStore): MeshClient {
  return new MeshClient({ mesh: benchMesh('ws://127.0.0.1:9/ws'), store, sessionKey: generateKeypair(), sessionId: 'bench-persistence', cwd: '/tmp' });
}

/** Store writes and bytes per enqueue, averaged over MEASURED messages sent after `queued` others. */
async function costPerEnqueue(queued: number): Promise<{ writes: number; bytes: number }> {
  const store = new MemoryStore();
  const client = offlineClient(store);
  const peer = generateKeypair().pubkey;
  try {
    for (let i = 0; i < queued; i++) await client.send(peer, DM_TEXT);
    await client.flush();
    const before = { writes: store.writes, bytes: store.bytesWritten };
    for (let i = 0; i < MEASURED; i++) await client.send(peer, DM_TEXT);
    await client.flush();
    if (client.outbox.length !== queued + MEASURED) throw new Error(`persistence: expected ${queued + MEASURED} queued rows, found ${client.outbox.length}`);
    return { writes: (store.writes - before.writes) / MEASURED, bytes: (store.bytesWritten - before.bytes) / MEASURED };
  } finally {
    await client.dispose();
  }
}

export async function persistence(runs: number): Promise<Row[]> {
  const bytes: Pair[] = [];
  const writes: Pair[] = [];
  for (let run = 0; run < runs; run++) {
    const deep = await costPerEnqueue(DEEP);
    const shallow = await costPerEnqueue(SHALLOW);
    bytes.push({ ours: deep.bytes, baseline: shallow.bytes });
    writes.push({ ours: deep.writes, baseline: shallow.writes });
  }
  return [
    ratioRow('3a. Bytes written per enqueue, 10,000 vs 10 already queued', 'B', bytes, { atMost: 1.5 }),
    ratioRow('3b. Store writes per enqueue, 10,000 vs 10 already queued', 'write(s)', writes, { atMost: 1.5 }),
  ];
}
