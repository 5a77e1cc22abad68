/**
 * Figure 5, the Peers view: the real extension (views, status bar, a real MeshClient) under the fake `vscode` module,
 * connected to a scripted broker. Measures one render of the Peers tree at 1,000 peers (what VS Code asks for on every
 * refresh: the children, then an item for each), and the cost of applying one presence event with 1,000 peers listed
 * against 100. The two sizes alternate within one session, so load from elsewhere on the machine hits both alike.
 * The window has a history of 100 received DMs, as a window in use would.
 */
import '../test/support/registerFakeVscode';
import { randomBytes, randomUUID } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type WebSocket from 'ws';
import type { MeshClient } from '../src/broker/client';
import type { SessionKey } from '../src/broker/connection';
import { encryptDirect, generateKeypair, SharedKeyCache } from '../src/broker/crypto';
import type { Peer, PeerStatus } from '../src/broker/types';
import { start } from '../src/extension';
import type { PeersView } from '../src/views/peers/tree';
import * as vscode from '../test/support/fakeVscode';
import { makeMesh, useConfig } from '../test/views/harness';
import { absoluteRow, median, now, Pair, ratioRow, Row, until } from './measure';
import { ScriptedBroker } from './scriptedBroker';

const FEW = 100;
const MANY = 1_000;
/** Extra peers on the broker's list, which leave one presence event at a time and are then listed again. */
const LEAVING = 20;
const ROUNDS = 10;
const HISTORY = 100;
const CORRESPONDENTS = 10;
const RENDERS = 20;

const STATUSES: PeerStatus[] = ['idle', 'working', 'dnd'];

/** A mesh's worth of sessions: every tenth belongs to the same member as the one before (grouped in the tree). */
export function makePeers(count: number): Peer[] {
  const peers: Peer[] = [];
  for (let i = 0; i < count; i++) {
    const pubkey = randomBytes(32).toString('hex');
    peers.push({
      pubkey,
      memberPubkey: i % 10 === 1 ? peers[i - 1].memberPubkey : pubkey,
      displayName: `Peer ${i}`,
      status: STATUSES[i % STATUSES.length],
      summary: i % 3 === 0 ? `working on task ${i}` : null,
      groups: i % 4 === 0 ? [{ name: 'backend', role: 'dev' }] : [],
      sessionId: `session-${i}`,
      connectedAt: new Date(Date.now() - i * 1000).toISOString(),
      cwd: `/home/user${i}/project`,
      peerRole: 'session',
      hostname: `host-${i % 50}`,
      peerType: i % 2 ? 'claude' : 'human',
      channel: 'claude-code',
    });
  }
  return peers;
}

function systemPush(event: string, eventData: Record<string, unknown>, meshId: string): Buffer {
  const frame = { type: 'push', subtype: 'system', event, eventData, messageId: randomUUID(), meshId, senderPubkey: 'system', priority: 'low', nonce: '', ciphertext: '', createdAt: new Date().toISOString() };
  return Buffer.from(JSON.stringify(frame));
}

interface Session {
  broker: ScriptedBroker;
  client: MeshClient;
  peersView: PeersView;
  /** Feeds a frame to the client exactly as its socket would. */
  deliver(frame: Buffer): void;
  close(): Promise<void>;
}

/** Keys of the peers the history's messages come from: in every peer list, spread through it as in a real mesh. */
export function withCorrespondents(peers: Peer[], correspondents: SessionKey[]): Peer[] {
  const spacing = Math.floor(peers.length / correspondents.length);
  correspondents.forEach((keys, i) => Object.assign(peers[i * spacing], { pubkey: keys.pubkey, memberPubkey: keys.pubkey }));
  return peers;
}

/** The extension running against a scripted broker, with HISTORY DMs received from the correspondents. */
async function openSession(correspondents: SessionKey[], peers: Peer[]): Promise<Session> {
  vscode.reset();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'claudemesh-bench-'));
  const broker = await ScriptedBroker.start();
  broker.peers = peers;
  const mesh = makeMesh('bench', broker.url);
  await useConfig(dir, [mesh]);
  const running = start(vscode.makeExtensionContext(dir) as never);
  await running.ready;
  const client = running.app.ctx.clients[0] as MeshClient;
  await until(() => client.state.kind === 'connected' && client.peers.length === peers.length, `${peers.length} peers listed`);

  const socket = broker.helloed[0];
  const senders = correspondents.map((keys) => new SharedKeyCache(keys.secretKey));
  for (let i = 0; i < HISTORY; i++) {
    const from = i % correspondents.length;
    const push = {
      type: 'push',
      messageId: randomUUID().replace(/-/g, ''),
      meshId: mesh.meshId,
      senderPubkey: correspondents[from].pubkey,
      priority: 'next',
      ...encryptDirect(`message ${i}`, client.sessionPubkey, senders[from]),
      createdAt: new Date().toISOString(),
      client_message_id: randomUUID(),
    };
    socket.send(JSON.stringify(push));
  }
  await until(() => client.history.length === HISTORY && broker.clientAcks === HISTORY, `${HISTORY} messages received`);

  // The client's own socket, reached past its privacy so a frame can be fed in without loopback latency, which does
  // not depend on the number of peers and would otherwise dominate a measurement of tens of microseconds.
  const ws = (client as unknown as { connection: { ws: WebSocket } }).connection.ws;
  return {
    broker,
    client,
    peersView: running.app.peers,
    deliver: (frame) => ws.emit('message', frame, false),
    async close() {
      await running.dispose();
      await broker.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Makes the broker list `peers` and has the client read the list again, as after a burst of presence events. */
async function relist(session: Session, peers: Peer[]): Promise<void> {
  session.broker.peers = peers;
  await session.client.listPeers();
  if (session.client.peers.length !== peers.length) throw new Error(`peers view: expected ${peers.length} peers listed, found ${session.client.peers.length}`);
}

/** Milliseconds for what VS Code does on a refresh: the root children, then an item for each. */
async function renderPeers(view: PeersView): Promise<number> {
  const started = now();
  const children = await view.getChildren();
  for (const child of children) view.getTreeItem(child);
  const elapsed = now() - started;
  if (children.length === 0) throw new Error('peers view: the tree rendered no peers');
  return elapsed;
}

/** Microseconds from a peer_left frame arriving to the Peers view announcing the change, for each of the last LEAVING peers. */
async function departures(session: Session): Promise<number[]> {
  let changes = 0;
  const subscription = session.peersView.onDidChangeTreeData(() => changes++);
  try {
    const costs: number[] = [];
    for (const peer of session.client.peers.slice(-LEAVING)) {
      const frame = systemPush('peer_left', { name: peer.displayName, pubkey: peer.pubkey }, session.client.mesh.meshId);
      const before = changes;
      const started = now();
      session.deliver(frame);
      const elapsed = now() - started;
      if (changes !== before + 1) throw new Error('peers view: a peer_left event did not refresh the view exactly once');
      costs.push(elapsed * 1000);
      await new Promise((resolve) => setImmediate(resolve));
    }
    return costs;
  } finally {
    subscription.dispose();
  }
}

export async function peersView(runs: number): Promise<Row[]> {
  const renders: number[] = [];
  const presence: Pair[] = [];
  for (let run = 0; run <= runs; run++) {
    const correspondents = Array.from({ length: CORRESPONDENTS }, () => generateKeypair());
    const few = withCorrespondents(makePeers(FEW + LEAVING), correspondents);
    const many = withCorrespondents(makePeers(MANY + LEAVING), correspondents);
    const session = await openSession(correspondents, many);
    try {
      const costs = { few: [] as number[], many: [] as number[] };
      // Each round lists LEAVING more than the nominal size, and they leave one event at a time.
      for (let round = 0; round < ROUNDS; round++) {
        await relist(session, few);
        costs.few.push(...(await departures(session)));
        await relist(session, many);
        costs.many.push(...(await departures(session)));
      }
      await relist(session, many.slice(0, MANY));
      const renderTimes: number[] = [];
      for (let i = 0; i < RENDERS; i++) renderTimes.push(await renderPeers(session.peersView));
      // Run 0 warms the JIT and is not counted.
      if (run === 0) continue;
      renders.push(median(renderTimes));
      presence.push({ ours: median(costs.many), baseline: median(costs.few) });
    } finally {
      await session.close();
    }
  }
  return [
    absoluteRow('5a. Peers tree: children and items for 1,000 peers', 'ms', renders, { atMost: 5 }),
    ratioRow('5b. Apply one presence event (peer_left), 1,000 vs 100 peers', 'µs', presence, { atMost: 1.5 }),
  ];
}
