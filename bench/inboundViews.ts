/**
 * Figure 7, one inbound message end to end in the real extension (views, status bar, notifications, a real
 * MeshClient and its history log) under the fake `vscode` module: from the push frame reaching the client's socket,
 * through decrypt and the history log write, to every visible view redrawn as VS Code would redraw it (the Messages
 * tree's changed rows and their items, the open conversation's chat panel patch, the status bar). With 1,000 messages
 * of history against 10 (100 peers), and 1,000 peers against 10 (100 messages of history). The history comes from 10
 * correspondents, so the Messages tree lists 10 conversations throughout; every third message comes from someone
 * other than the peer on top, which reorders the list (a whole-tree redraw).
 */
import '../test/support/registerFakeVscode';
import { randomUUID } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type WebSocket from 'ws';
import type { MeshClient } from '../src/broker/client';
import type { SessionKey } from '../src/broker/connection';
import { encryptDirect, generateKeypair, SharedKeyCache } from '../src/broker/crypto';
import { start } from '../src/extension';
import type { MessagesView } from '../src/views/conversations/tree';
import * as vscode from '../test/support/fakeVscode';
import { frontChat, makeMesh, useConfig } from '../test/views/harness';
import { median, now, Pair, ratioRow, Row, until } from './measure';
import { makePeers, withCorrespondents } from './peersView';
import { ScriptedBroker } from './scriptedBroker';

const CORRESPONDENTS = 10;
const MEASURED = 30;

interface Session {
  cost(): Promise<number[]>;
  close(): Promise<void>;
}

/** What VS Code does when a tree says an element (or the root) changed: the children, then an item for each. */
async function redraw(view: MessagesView, element: unknown): Promise<void> {
  if (element !== undefined) {
    view.getTreeItem(element as never);
    await view.getChildren(element as never);
    return;
  }
  for (const child of await view.getChildren()) view.getTreeItem(child);
}

async function openSession(history: number, peerCount: number): Promise<Session> {
  vscode.reset();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'claudemesh-bench-views-'));
  const broker = await ScriptedBroker.start();
  const correspondents: SessionKey[] = Array.from({ length: CORRESPONDENTS }, () => generateKeypair());
  broker.peers = withCorrespondents(makePeers(peerCount), correspondents);
  const mesh = makeMesh('bench', broker.url);
  await useConfig(dir, [mesh]);
  const running = start(vscode.makeExtensionContext(dir) as never);
  await running.ready;
  const client = running.app.ctx.clients[0] as MeshClient;
  await until(() => client.state.kind === 'connected' && client.peers.length === peerCount, `${peerCount} peers listed`);
  const socket = broker.helloed[0];
  const senders = correspondents.map((keys) => new SharedKeyCache(keys.secretKey));
  const push = (from: number, text: string) =>
    JSON.stringify({
      type: 'push',
      messageId: randomUUID().replace(/-/g, ''),
      meshId: mesh.meshId,
      senderPubkey: correspondents[from].pubkey,
      priority: 'next',
      ...encryptDirect(text, client.sessionPubkey, senders[from]),
      createdAt: new Date().toISOString(),
      client_message_id: randomUUID(),
    });
  // Counted from the event, not the history, which is capped (maxHistory) and may not grow.
  let received = 0;
  client.onDidReceiveMessage(() => received++);
  for (let i = 0; i < history; i++) socket.send(push(i % CORRESPONDENTS, `message ${i}`));
  await until(() => received === history && broker.clientAcks === history, `${history} messages received`);

  // What is on screen: the Messages tree, and the conversation with correspondent 0 open in its chat panel.
  const messages = running.app.messages;
  let pendingRedraws = 0;
  messages.onDidChangeTreeData((element) => {
    pendingRedraws++;
    void redraw(messages, element).then(() => pendingRedraws--);
  });
  socket.send(push(0, 'the latest, on top'));
  await until(() => received === history + 1, 'a message from the peer on top');
  await redraw(messages, undefined);
  running.app.chats.open({ meshId: mesh.meshId, key: correspondents[0].pubkey, label: 'Peer' });
  // The page says it is ready (what src/views/chat/page.js does first); from then on every change to its mesh's
  // conversations posts the panel a patch.
  const page = frontChat().webview;
  const rendered = () => page.postedOf('patch').length;
  const ws = (client as unknown as { connection: { ws: WebSocket } }).connection.ws;

  return {
    async cost() {
      const costs: number[] = [];
      for (let i = 0; i < MEASURED; i++) {
        const from = i % 3 === 2 ? 1 + (i % (CORRESPONDENTS - 1)) : 0;
        const frame = Buffer.from(push(from, `measured ${i}`));
        const stored = received + 1;
        const patchesBefore = rendered();
        const started = now();
        ws.emit('message', frame, false);
        await until(() => received === stored && pendingRedraws === 0 && rendered() > patchesBefore, 'the views to be redrawn');
        costs.push((now() - started) * 1000);
        // Back on top for the next round: correspondent 0 writes again, not measured.
        if (from !== 0) {
          socket.send(push(0, 'back on top'));
          await until(() => received === stored + 1 && pendingRedraws === 0, 'the peer on top again');
        }
      }
      return costs;
    },
    async close() {
      await running.dispose();
      await broker.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function measure(history: number, peers: number): Promise<number> {
  const session = await openSession(history, peers);
  try {
    return median(await session.cost());
  } finally {
    await session.close();
  }
}

export async function inboundViews(runs: number): Promise<Row[]> {
  const byHistory: Pair[] = [];
  const byPeers: Pair[] = [];
  for (let run = 0; run <= runs; run++) {
    const deepHistory = await measure(1_000, 100);
    const shallowHistory = await measure(10, 100);
    const manyPeers = await measure(100, 1_000);
    const fewPeers = await measure(100, 10);
    // Run 0 warms the JIT and is not counted.
    if (run === 0) continue;
    byHistory.push({ ours: deepHistory, baseline: shallowHistory });
    byPeers.push({ ours: manyPeers, baseline: fewPeers });
  }
  return [
    ratioRow('7a. One inbound DM end to end (push → stored → visible views redrawn), 1,000 vs 10 history', 'µs', byHistory, { atMost: 1.5 }),
    ratioRow('7b. The same, 1,000 vs 10 peers', 'µs', byPeers, { atMost: 1.5 }),
  ];
}
