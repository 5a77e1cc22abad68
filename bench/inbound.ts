/**
 * Figure 4, inbound: 5,000 DM pushes that a MeshClient decrypts, deduplicates, persists and acks, versus a raw `ws`
 * client that only counts the same frames arriving: the receive rate of the socket itself.
 */
import { randomUUID } from 'crypto';
import WebSocket from 'ws';
import { MeshClient } from '../src/broker/client';
import type { SessionKey } from '../src/broker/connection';
import { encryptDirect, generateKeypair, SharedKeyCache } from '../src/broker/crypto';
import { MemoryStore } from '../src/broker/store';
import type { Peer } from '../src/broker/types';
import { DM_TEXT } from './encryption';
import { now, Pair, ratioRow, Row, until } from './measure';
import { BENCH_MESH_ID, benchMesh, ScriptedBroker } from './scriptedBroker';

const MESSAGES = 5_000;

/** Queued DM pushes (docs/protocol.md §5 shape a), sealed to `recipient` by `sender`, serialised once up front. */
export function dmPushes(count: number, sender: SessionKey, recipient: SessionKey): string[] {
  const keys = new SharedKeyCache(sender.secretKey);
  return Array.from({ length: count }, (_, i) =>
    JSON.stringify({
      type: 'push',
      messageId: randomUUID().replace(/-/g, ''),
      meshId: BENCH_MESH_ID,
      senderPubkey: sender.pubkey,
      priority: 'next',
      ...encryptDirect(`${i}: ${DM_TEXT}`, recipient.pubkey, keys),
      createdAt: new Date().toISOString(),
      client_message_id: randomUUID(),
    }),
  );
}

export function senderPeer(sender: SessionKey): Peer {
  return {
    pubkey: sender.pubkey,
    memberPubkey: sender.pubkey,
    displayName: 'Sender',
    status: 'idle',
    summary: null,
    groups: [],
    sessionId: 'sender',
    connectedAt: new Date().toISOString(),
    cwd: '/tmp',
    peerRole: 'session',
  };
}

/** Messages per second from the first push written to the last client_ack read back. */
async function intoMeshClient(broker: ScriptedBroker, frames: string[], sessionKey: SessionKey): Promise<number> {
  const client = new MeshClient({ mesh: benchMesh(broker.url), store: new MemoryStore(), sessionKey, sessionId: `bench-inbound-${randomUUID()}`, cwd: '/tmp' });
  try {
    const socketIndex = broker.helloed.length;
    client.connect();
    // Connected, and the first peer list is in: nothing else of the client's start-up overlaps the measurement.
    await until(() => client.state.kind === 'connected' && client.peers.length === broker.peers.length, 'the client to connect');
    const socket = broker.helloed[socketIndex];
    broker.clientAcks = 0;
    const done = new Promise<number>((resolve) => (broker.onClientAck = () => broker.clientAcks === frames.length && resolve(now())));
    const start = now();
    for (const frame of frames) socket.send(frame);
    const end = await done;
    const last = client.history[client.history.length - 1];
    if (last?.text !== `${frames.length - 1}: ${DM_TEXT}`) throw new Error(`inbound: the last message did not decrypt as sent (got ${JSON.stringify(last?.text)})`);
    return (frames.length * 1000) / (end - start);
  } finally {
    broker.onClientAck = undefined;
    await client.dispose();
  }
}

/** Messages per second for a socket that counts frames and does nothing else. */
async function intoRawSocket(broker: ScriptedBroker, frames: string[]): Promise<number> {
  const ws = new WebSocket(broker.url);
  try {
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const socketIndex = broker.helloed.length;
    const acked = new Promise((resolve) => ws.once('message', resolve));
    ws.send(JSON.stringify({ type: 'session_hello', displayName: 'raw' }));
    await acked;
    const socket = broker.helloed[socketIndex];
    let received = 0;
    const done = new Promise<number>((resolve) => ws.on('message', () => ++received === frames.length && resolve(now())));
    const start = now();
    for (const frame of frames) socket.send(frame);
    const end = await done;
    return (frames.length * 1000) / (end - start);
  } finally {
    ws.close();
  }
}

export async function inbound(runs: number): Promise<Row[]> {
  const broker = await ScriptedBroker.start();
  try {
    const sender = generateKeypair();
    const sessionKey = generateKeypair();
    broker.peers = [senderPeer(sender)];
    const frames = dmPushes(MESSAGES, sender, sessionKey);
    await intoMeshClient(broker, frames.slice(0, 500), sessionKey);
    await intoRawSocket(broker, frames.slice(0, 500));
    const pairs: Pair[] = [];
    for (let run = 0; run < runs; run++) {
      if (run % 2 === 0) {
        const ours = await intoMeshClient(broker, frames, sessionKey);
        pairs.push({ ours, baseline: await intoRawSocket(broker, frames) });
      } else {
        const baseline = await intoRawSocket(broker, frames);
        pairs.push({ ours: await intoMeshClient(broker, frames, sessionKey), baseline });
      }
    }
    return [ratioRow('4. Inbound, 5,000 DM pushes decrypted, deduped, persisted, acked (vs raw socket receive)', 'msg/s', pairs)];
  } finally {
    await broker.close();
  }
}
