import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { brokerUrlProblem } from '../../src/broker/config';
import { BrokerConnection, BrokerError, backoffDelay } from '../../src/broker/connection';
import { generateKeypair } from '../../src/broker/crypto';
import { Emitter } from '../../src/broker/events';
import type { Frame } from '../../src/broker/protocol';
import type { ConnectionState, JoinedMesh } from '../../src/broker/types';
import { waitUntil as until } from '../support/meshFixture';

/** A scripted broker: acks any hello, then hands every request to the test. */
async function scriptedBroker(onRequest: (msg: Record<string, unknown>, ws: WebSocket) => void) {
  const server = http.createServer();
  const wss = new WebSocketServer({ server, path: '/ws' });
  const hellos: Record<string, unknown>[] = [];
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString());
      if (msg.type === 'session_hello') {
        hellos.push(msg);
        ws.send(JSON.stringify({ type: 'hello_ack', presenceId: 'p1', memberDisplayName: 'Me' }));
      } else onRequest(msg, ws);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    hellos,
    sockets: () => [...wss.clients],
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function meshFor(url: string): JoinedMesh {
  const member = generateKeypair();
  return { meshId: 'a'.repeat(32), memberId: 'b'.repeat(32), slug: 'demo', name: 'demo', brokerUrl: url, joinedAt: '', ...member };
}

function waitFor(conn: BrokerConnection, kind: ConnectionState['kind']): Promise<ConnectionState> {
  if (conn.state.kind === kind) return Promise.resolve(conn.state);
  return new Promise((resolve) => {
    const sub = conn.onDidChangeState((s) => {
      if (s.kind === kind) {
        sub.dispose();
        resolve(s);
      }
    });
  });
}

describe('broker connection', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function connect(onRequest: (msg: Record<string, unknown>, ws: WebSocket) => void, timing = {}) {
    const broker = await scriptedBroker(onRequest);
    cleanups.push(broker.close);
    const conn = new BrokerConnection({ mesh: meshFor(broker.url), sessionKey: generateKeypair(), sessionId: 'sess-1', cwd: '/tmp', timing: { backoffBaseMs: 20, backoffMaxMs: 50, ...timing } });
    cleanups.push(() => conn.dispose());
    conn.start();
    await waitFor(conn, 'connected');
    return { broker, conn };
  }

  it('sends a signed session_hello as a visible human peer with an integer pid', async () => {
    const { broker } = await connect(() => {});
    const hello = broker.hellos[0];
    assert.equal(hello.peerType, 'human');
    assert.equal(hello.channel, 'claudemesh-vscode');
    assert.ok(Number.isInteger(hello.pid));
    assert.equal(hello.sessionId, 'sess-1');
    assert.equal((hello.parentAttestation as { sessionPubkey: string }).sessionPubkey, hello.sessionPubkey);
  });

  it('matches replies that arrive out of order to their requests', async () => {
    const held: { msg: Record<string, unknown>; ws: WebSocket }[] = [];
    const { conn } = await connect((msg, ws) => {
      held.push({ msg, ws });
      if (held.length === 3) {
        for (const { msg: m, ws: w } of held.reverse()) w.send(JSON.stringify({ type: 'memory_stored', id: `for-${String(m.content)}`, _reqId: m._reqId }));
      }
    });
    const replies = await Promise.all(['a', 'b', 'c'].map((content) => conn.request({ type: 'remember', content })));
    assert.deepEqual(replies.map((r) => (r.type === 'memory_stored' ? r.id : '?')), ['for-a', 'for-b', 'for-c']);
  });

  it('rejects a request with the broker error sent for its id', async () => {
    const { conn } = await connect((msg, ws) => ws.send(JSON.stringify({ type: 'error', code: 'not_found', message: 'no such message', _reqId: msg._reqId })));
    await assert.rejects(conn.request({ type: 'message_status', messageId: 'abcdefgh' }), (err: BrokerError) => err.code === 'not_found');
  });

  it('ignores replies with unknown ids and passes them on as unsolicited frames', async () => {
    const seen: string[] = [];
    const { conn } = await connect((msg, ws) => {
      ws.send(JSON.stringify({ type: 'ack', id: 'stray', messageId: 'x', queued: true }));
      ws.send(JSON.stringify({ type: 'skill_list', skills: [], _reqId: msg._reqId }));
    });
    conn.onFrame((f) => seen.push(f.type));
    const reply = await conn.request({ type: 'list_skills' });
    assert.equal(reply.type, 'skill_list');
    assert.deepEqual(seen, ['ack']);
  });

  it('times out a request the broker never answers', async () => {
    const { conn } = await connect(() => {}, { rpcTimeoutMs: 50 });
    await assert.rejects(conn.request({ type: 'list_peers' }), (err: BrokerError) => err.code === 'timeout');
  });

  it('hands a send ack that comes after the timeout to the request\'s onLate, not to the unsolicited frames', async () => {
    const { conn } = await connect((msg, ws) => setTimeout(() => ws.send(JSON.stringify({ type: 'ack', id: msg.id, messageId: 'late-1', queued: true })), 150), { rpcTimeoutMs: 50 });
    const late: Frame[] = [];
    const unsolicited: Frame[] = [];
    conn.onFrame((f) => unsolicited.push(f));
    await assert.rejects(conn.request({ type: 'send', targetSpec: '*' }, { idField: 'id', onLate: (f) => late.push(f) }), (err: BrokerError) => err.code === 'timeout');
    await until(() => late.length === 1, 'the late ack');
    assert.equal((late[0] as { messageId?: string }).messageId, 'late-1');
    assert.deepEqual(unsolicited.filter((f) => f.type === 'ack'), []);
  });

  it('fails every pending request at once when the socket drops, then reconnects', async () => {
    const { broker, conn } = await connect(() => {});
    const pending = [conn.request({ type: 'list_peers' }), conn.request({ type: 'list_state' })];
    const settled = Promise.allSettled(pending);
    broker.sockets()[0].terminate();
    const results = await settled;
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
    await waitFor(conn, 'reconnecting');
    await waitFor(conn, 'connected');
    assert.equal(broker.hellos.length, 2);
  });

  it('drops a socket that stays silent longer than the limit', async () => {
    const { broker, conn } = await connect(() => {}, { silenceLimitMs: 60, watchdogIntervalMs: 20 });
    const state = await waitFor(conn, 'reconnecting');
    assert.match((state as { lastError: string }).lastError, /stopped answering/);
    await waitFor(conn, 'connected');
    assert.ok(broker.hellos.length >= 2);
  });

  it('keeps a live socket and its pending request when the wall clock jumps an hour forward', async () => {
    const realNow = Date.now;
    const { conn } = await connect((msg, ws) => {
      setTimeout(() => ws.send(JSON.stringify({ type: 'memory_stored', id: 'm1', _reqId: msg._reqId })), 300);
    }, { silenceLimitMs: 2_000, watchdogIntervalMs: 20, rpcTimeoutMs: 2_000 });
    Date.now = () => realNow() + 3600_000;
    try {
      const reply = await conn.request({ type: 'remember', content: 'x' });
      assert.equal(reply.type, 'memory_stored');
      assert.equal(conn.state.kind, 'connected', 'the watchdog did not take an hour of wall time for silence');
    } finally {
      Date.now = realNow;
    }
  });

  it('keeps an outage young when the wall clock jumps an hour forward during it', async () => {
    const realNow = Date.now;
    const conn = new BrokerConnection({ mesh: meshFor('ws://127.0.0.1:9/ws'), sessionKey: generateKeypair(), sessionId: 'sess-jump', cwd: '/tmp', timing: { backoffBaseMs: 20, backoffMaxMs: 5_000, youngBackoffMaxMs: 50, youngOutageMs: 60_000 } });
    cleanups.push(() => conn.dispose());
    const delays: number[] = [];
    const done = new Promise<void>((resolve) =>
      conn.onDidChangeState((state) => {
        if (state.kind !== 'reconnecting') return;
        if (delays.length === 0) Date.now = () => realNow() + 3600_000; // the step, right after the outage began
        delays.push(state.retryAt - Date.now());
        if (delays.length >= 8) resolve();
      }),
    );
    try {
      conn.start();
      await done;
    } finally {
      Date.now = realNow;
    }
    assert.ok(Math.max(...delays) <= 50, `a delay above the young cap after the step: ${delays}`);
  });

  it('refuses before connecting when the broker URL path is not exactly /ws', () => {
    assert.equal(brokerUrlProblem('wss://h/ws'), undefined);
    for (const bad of ['wss://h/ws/', 'wss://h/ws?x=1', 'https://h/ws', 'wss://h/', 'nonsense']) assert.ok(brokerUrlProblem(bad), bad);
    const conn = new BrokerConnection({ mesh: meshFor('wss://h/ws?x=1'), sessionKey: generateKeypair(), sessionId: 's', cwd: '/' });
    conn.start();
    assert.equal(conn.state.kind, 'failed');
    conn.dispose();
  });

  it('caps the backoff lower while an outage is young, and at the full cap once it is old', async () => {
    // Nothing listens on this port: every attempt is refused at once.
    const mesh = meshFor('ws://127.0.0.1:9/ws');
    const timing = { backoffBaseMs: 20, backoffMaxMs: 400, youngBackoffMaxMs: 50, youngOutageMs: 600 };
    const conn = new BrokerConnection({ mesh, sessionKey: generateKeypair(), sessionId: 'sess-young', cwd: '/tmp', timing });
    cleanups.push(() => conn.dispose());
    const young: number[] = [];
    const old: number[] = [];
    const started = Date.now();
    const done = new Promise<void>((resolve) =>
      conn.onDidChangeState((state) => {
        if (state.kind !== 'reconnecting') return;
        (Date.now() - started < 550 ? young : old).push(state.retryAt - Date.now());
        if (old.length >= 6) resolve();
      }),
    );
    conn.start();
    await done;
    assert.ok(young.length >= 5, `only ${young.length} attempts while young`);
    assert.ok(Math.max(...young) <= 50, `a young delay above the young cap: ${young}`);
    assert.ok(Math.max(...old) > 50, `no old delay above the young cap: ${old}`);
  });

  it('draws full-jitter backoff delays below an exponential cap of 30 s', () => {
    assert.equal(backoffDelay(0, 1000, 30_000, () => 0.999), 999);
    assert.equal(backoffDelay(3, 1000, 30_000, () => 0.5), 4000);
    assert.equal(backoffDelay(20, 1000, 30_000, () => 0.999), 29_970);
    assert.equal(backoffDelay(5, 1000, 30_000, () => 0), 0);
  });
});

describe('events', () => {
  it('logs a listener\'s exception and still calls the other listeners', () => {
    const errors: unknown[] = [];
    const emitter = new Emitter<number>((err) => errors.push(err));
    const seen: number[] = [];
    emitter.event(() => {
      throw new Error('view bug');
    });
    emitter.event((n) => seen.push(n));
    emitter.fire(1);
    assert.deepEqual(seen, [1]);
    assert.deepEqual(errors.map((e) => (e as Error).message), ['view bug']);
  });
});
