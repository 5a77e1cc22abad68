import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { MeshClient } from '../../src/broker/client';
import { generateKeypair } from '../../src/broker/crypto';
import { MemoryStore } from '../../src/broker/store';
import type { JoinedMesh } from '../../src/broker/types';
import { waitUntil } from '../support/meshFixture';

/** Deterministic, so a failure replays. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

const WEIRD: unknown[] = [null, true, -0, Infinity, '', '\u0000\uffff', 'A'.repeat(5_000), [], {}, { __proto__: { x: 1 } }, '*', 'not base64!', 'AAAA', '8'.repeat(64)];
const TYPES = ['push', 'ack', 'error', 'state_change', 'peers_list', 'state_result', 'memory_results', 'skill_data', 'hello_ack', 'stream_data', 'zzz'];
const SYSTEM_EVENTS = ['peer_joined', 'peer_returned', 'peer_left', 'peer_visible', 'peer_hidden', 'profile_updated', 'tick', 'mcp_registered'];

function hostileFrame(rand: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const r = rand();
  if (r < 0.1) return pick(['', '{', 'null', '[1,2]', '"str"', '{"type":', '\u0000', '{}']);
  const frame: Record<string, unknown> = { type: pick(TYPES) };
  if (frame.type === 'push') {
    Object.assign(frame, { messageId: rand() < 0.9 ? `m${Math.floor(rand() * 50)}` : pick(WEIRD), senderPubkey: pick(WEIRD), nonce: pick(WEIRD), ciphertext: rand() < 0.5 ? Buffer.from('hi').toString('base64') : pick(WEIRD), priority: pick(['now', 'next', 'low', 'urgent', 7]) });
    if (rand() < 0.4) Object.assign(frame, { subtype: 'system', event: pick(SYSTEM_EVENTS), eventData: rand() < 0.8 ? { name: pick(WEIRD), pubkey: pick(WEIRD) } : pick(WEIRD) });
    if (rand() < 0.3) frame.client_message_id = pick(WEIRD);
  }
  for (let i = Math.floor(rand() * 4); i > 0; i--) frame[pick(['_reqId', 'id', 'peers', 'key', 'value', 'memories', 'skill', 'code', 'message', 'queued', 'error'])] = pick(WEIRD);
  return JSON.stringify(frame);
}

describe('mesh client under a hostile broker', function () {
  this.timeout(60_000);

  it('takes thousands of random and hostile frames without a crash or an unhandled rejection, and still answers', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);

    const server = http.createServer();
    const wss = new WebSocketServer({ server, path: '/ws' });
    const rand = prng(7);
    let sockets: WebSocket[] = [];
    wss.on('connection', (ws) => {
      sockets.push(ws);
      ws.on('message', (data) => {
        const msg = JSON.parse(data.toString());
        if (msg.type === 'session_hello') {
          ws.send(JSON.stringify({ type: 'hello_ack', presenceId: 'p', memberDisplayName: 'Fuzzed' }));
          for (let i = 0; i < 3_000; i++) ws.send(hostileFrame(rand));
          ws.send(JSON.stringify({ type: 'state_change', key: 'done', value: true, updatedBy: 'fuzzer' }));
        } else if (msg.type === 'list_peers') {
          ws.send(JSON.stringify({ type: 'peers_list', peers: [], _reqId: msg._reqId }));
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const member = generateKeypair();
    const mesh: JoinedMesh = { meshId: 'f'.repeat(32), memberId: 'g'.repeat(32), slug: 'fuzz', name: 'fuzz', brokerUrl: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`, joinedAt: '', ...member };
    const client = new MeshClient({ mesh, store: new MemoryStore(), sessionKey: generateKeypair(), sessionId: 'fuzz', cwd: '/', timing: { backoffBaseMs: 10, backoffMaxMs: 50 } });
    let done = false;
    client.onDidChangeSharedState((c) => (done ||= c.key === 'done'));
    try {
      client.connect();
      await waitUntil(() => done, 'the last frame');
      assert.equal(client.state.kind, 'connected');
      assert.deepEqual(await client.listPeers(), []);
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(unhandled, []);
      assert.ok(client.history.every((m) => m.text === null || typeof m.text === 'string'));
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await client.dispose();
      for (const ws of sockets) ws.terminate();
      sockets = [];
      await new Promise<void>((r) => wss.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
