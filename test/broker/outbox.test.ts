import * as assert from 'node:assert/strict';
import { BrokerError } from '../../src/broker/connection';
import { MessageTooLargeError, Outbox, OutboxTransport, SendAck } from '../../src/broker/outbox';
import { MemoryStore, pruneLeftMeshes } from '../../src/broker/store';
import type { OutboxRow } from '../../src/broker/types';

const PEER = 'c'.repeat(64);

/** A transport whose answers the test scripts, recording every frame sent. */
class ScriptedTransport implements OutboxTransport {
  connected = true;
  sent: Record<string, unknown>[] = [];
  answer: (frame: Record<string, unknown>) => Promise<SendAck> = async () => ({ messageId: `m${this.sent.length}`, queued: true });
  /** The `onLate` of each send, by client_message_id, so a test can deliver an ack after the timeout. */
  late = new Map<unknown, (ack: SendAck) => void>();
  send(frame: Record<string, unknown>, onLate: (ack: SendAck) => void): Promise<SendAck> {
    this.sent.push(frame);
    this.late.set(frame.client_message_id, onLate);
    return this.answer(frame);
  }
}

function request(text: string, targetSpec = PEER) {
  return { targetSpec, targetLabel: 'Peer', priority: 'next' as const, nonce: 'bm9uY2U=', ciphertext: Buffer.from(text).toString('base64'), text, fingerprint: 'f'.repeat(64) };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(check(), `timed out waiting for ${what}`);
}

describe('durable outbox', () => {
  const outboxes: Outbox[] = [];
  afterEach(() => outboxes.splice(0).forEach((o) => o.dispose()));
  function make(store: MemoryStore, transport: ScriptedTransport, extra: Partial<ConstructorParameters<typeof Outbox>[0]> = {}) {
    const outbox = new Outbox({ meshId: 'mesh', store, transport, rateLimit: false, ...extra });
    outboxes.push(outbox);
    return outbox;
  }

  it('persists a message before enqueue returns its id', async () => {
    const store = new MemoryStore();
    const transport = new ScriptedTransport();
    transport.connected = false;
    const row = await make(store, transport).enqueue(request('hi'));
    const stored = store.keys().map((k) => store.get<OutboxRow>(k)!);
    assert.deepEqual(stored.map((r) => [r.clientMessageId, r.status]), [[row.clientMessageId, 'queued']]);
  });

  it('sends rows in order with their client_message_id and fingerprint, then marks them sent', async () => {
    const store = new MemoryStore();
    const transport = new ScriptedTransport();
    const outbox = make(store, transport);
    const rows = [];
    for (let i = 0; i < 5; i++) rows.push(await outbox.enqueue(request(`m${i}`)));
    await until(() => outbox.rows.every((r) => r.status === 'sent'), 'all sent');
    assert.deepEqual(transport.sent.map((f) => f.client_message_id), rows.map((r) => r.clientMessageId));
    assert.equal(transport.sent[0].request_fingerprint, 'f'.repeat(64));
    assert.equal(transport.sent[0].type, 'send');
  });

  it('writes one record of constant size per change, whatever the queue depth', async () => {
    const costAt = async (depth: number) => {
      const store = new MemoryStore();
      const transport = new ScriptedTransport();
      transport.connected = false;
      const outbox = make(store, transport);
      for (let i = 0; i < depth; i++) await outbox.enqueue(request('x'.repeat(100)));
      const before = { writes: store.writes, bytes: store.bytesWritten };
      await outbox.enqueue(request('x'.repeat(100)));
      return { writes: store.writes - before.writes, bytes: store.bytesWritten - before.bytes };
    };
    const shallow = await costAt(10);
    const deep = await costAt(2_000);
    assert.equal(shallow.writes, 1);
    assert.equal(deep.writes, 1);
    // The same record but for its numbers: seq (2 vs 4 digits) and clock readings, whose JSON length varies with
    // the value (performance.now() prints up to 17 significant digits). Growth with depth would be kilobytes.
    assert.ok(Math.abs(deep.bytes - shallow.bytes) <= 24, `${deep.bytes} vs ${shallow.bytes}`);
  });

  it('resends a row found mid-send after a restart under the same client_message_id', async () => {
    const store = new MemoryStore();
    const first = new ScriptedTransport();
    first.answer = () => new Promise(() => {}); // never acked: the process "dies" mid-send
    const before = make(store, first);
    const row = await before.enqueue(request('survive'));
    await until(() => first.sent.length === 1, 'the send written');
    // A DM's record stays "queued" while its send is in flight: reloaded, it is resent either way.
    assert.equal(store.get<OutboxRow>(store.keys()[0])!.status, 'queued');
    before.dispose();

    const second = new ScriptedTransport();
    const after = make(store, second);
    await until(() => after.rows[0]?.status === 'sent', 'resent after restart');
    assert.equal(second.sent[0].client_message_id, row.clientMessageId);
    assert.equal(second.sent[0].ciphertext, row.ciphertext);
  });

  it('waits for a token after a rate_limit error instead of failing the message', async () => {
    const store = new MemoryStore();
    const transport = new ScriptedTransport();
    let limited = 0;
    transport.answer = async () => {
      if (limited++ < 2) return { messageId: '', queued: false, error: 'rate_limit: max 60 msg/min (burst 10) \u2014 slow down' };
      return { messageId: 'ok', queued: true };
    };
    const outbox = make(store, transport, { rateLimit: { burst: 10, perMinute: 60_000 } });
    await outbox.enqueue(request('patient'));
    await until(() => outbox.rows[0].status === 'sent', 'sent after the limit');
    assert.equal(transport.sent.length, 3);
    assert.equal(outbox.rows[0].attempts, 1);
  });

  it('paces itself to the local bucket: a burst goes out at once, the rest waits for tokens', async () => {
    const store = new MemoryStore();
    const transport = new ScriptedTransport();
    const outbox = make(store, transport, { rateLimit: { burst: 3, perMinute: 60 } });
    for (let i = 0; i < 5; i++) await outbox.enqueue(request(`b${i}`));
    await until(() => transport.sent.length === 3, 'the burst');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(transport.sent.length, 3);
    assert.equal(outbox.rows.filter((r) => r.status === 'queued').length, 2);
  });

  it('fails permanently on payload too large and on grant blocks, keeping the reason', async () => {
    for (const error of ['payload too large: 70000 bytes > MAX_MESSAGE_BYTES=65536', 'blocked by recipient grants (sender lacks dm capability)']) {
      const transport = new ScriptedTransport();
      transport.answer = async () => ({ messageId: '', queued: false, error });
      const outbox = make(new MemoryStore(), transport);
      await outbox.enqueue(request('no'));
      await until(() => outbox.rows[0].status === 'failed', 'failed');
      assert.equal(outbox.rows[0].lastError, error);
      assert.equal(transport.sent.length, 1);
    }
  });

  it('holds a DM to an offline peer and sends it once that peer is seen', async () => {
    const transport = new ScriptedTransport();
    let online = false;
    transport.answer = async () =>
      online ? { messageId: 'm', queued: true } : { messageId: '', queued: false, error: 'no connected peer for target (not online, or targetSpec is your own key without another session)' };
    const outbox = make(new MemoryStore(), transport);
    await outbox.enqueue(request('later'));
    await until(() => outbox.rows[0].status === 'held', 'held');
    online = true;
    outbox.peerSeen(['d'.repeat(64)]);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(outbox.rows[0].status, 'held');
    outbox.peerSeen([PEER]);
    await until(() => outbox.rows[0].status === 'sent', 'sent after the peer returned');
  });

  it('fails a held DM once the hold expires', async () => {
    const transport = new ScriptedTransport();
    transport.answer = async () => ({ messageId: '', queued: false, error: 'no connected peer for target (not online, or targetSpec is your own key without another session)' });
    const outbox = make(new MemoryStore(), transport, { holdExpiryMs: 30 });
    await outbox.enqueue(request('never'));
    await until(() => outbox.rows[0].status === 'held', 'held');
    await new Promise((r) => setTimeout(r, 40));
    outbox.kick();
    assert.equal(outbox.rows[0].status, 'failed');
    assert.match(outbox.rows[0].lastError!, /did not come back online/);
  });

  it('retries transient failures with backoff and does not count disconnects as attempts', async () => {
    const transport = new ScriptedTransport();
    let calls = 0;
    transport.answer = async () => {
      calls++;
      if (calls === 1) throw Object.assign(new (await import('../../src/broker/connection')).BrokerError('disconnected', 'lost'));
      return { messageId: 'm', queued: true };
    };
    const outbox = make(new MemoryStore(), transport);
    await outbox.enqueue(request('flaky'));
    await until(() => outbox.rows[0].status === 'sent', 'sent on retry');
    assert.equal(outbox.rows[0].attempts, 1);
  });

  it('refuses at enqueue a message too large for one frame', async () => {
    const outbox = make(new MemoryStore(), new ScriptedTransport());
    await assert.rejects(outbox.enqueue(request('x'.repeat(70_000))), MessageTooLargeError);
    assert.equal(outbox.rows.length, 0);
  });

  it('lets the user retry and discard failed messages', async () => {
    const transport = new ScriptedTransport();
    let fail = true;
    transport.answer = async () => (fail ? { messageId: '', queued: false, error: 'blocked by recipient grants (sender lacks dm capability)' } : { messageId: 'm', queued: true });
    const store = new MemoryStore();
    const outbox = make(store, transport);
    const a = await outbox.enqueue(request('a'));
    const b = await outbox.enqueue(request('b'));
    await until(() => outbox.rows.every((r) => r.status === 'failed'), 'both failed');
    await outbox.discard(b.clientMessageId);
    fail = false;
    assert.equal(await outbox.retryFailed(), 1);
    await until(() => outbox.get(a.clientMessageId)?.status === 'sent', 'retried');
    assert.equal(store.keys().length, 1);
  });

  it('keeps one send in flight per recipient, while sends to different recipients overlap', async () => {
    const transport = new ScriptedTransport();
    const waiting: (() => void)[] = [];
    transport.answer = () => new Promise((resolve) => waiting.push(() => resolve({ messageId: 'm', queued: true })));
    const outbox = make(new MemoryStore(), transport);
    const other = 'd'.repeat(64);
    for (const [text, to] of [['a1', PEER], ['a2', PEER], ['b1', other], ['a3', PEER], ['b2', other]]) await outbox.enqueue(request(text, to));
    await until(() => transport.sent.length === 2, 'one send to each recipient');
    assert.deepEqual(transport.sent.map((f) => f.targetSpec), [PEER, other]);
    while (transport.sent.length < 5) {
      waiting.shift()!();
      await new Promise((r) => setTimeout(r, 5));
    }
    const texts = (to: string) => outbox.rows.filter((r) => r.targetSpec === to).map((r) => r.text);
    const order = transport.sent.map((f) => outbox.get(f.client_message_id as string)!.text);
    assert.deepEqual(order.filter((t) => t.startsWith('a')), texts(PEER));
    assert.deepEqual(order.filter((t) => t.startsWith('b')), texts(other));
  });

  it('sends a retried row before newer rows to the same recipient', async () => {
    const transport = new ScriptedTransport();
    let first = true;
    transport.answer = async () => {
      if (first) {
        first = false;
        throw new BrokerError('timeout', 'no answer');
      }
      return { messageId: 'm', queued: true };
    };
    const outbox = make(new MemoryStore(), transport);
    await outbox.enqueue(request('one'));
    await outbox.enqueue(request('two'));
    await until(() => outbox.rows.every((r) => r.status === 'sent'), 'both sent');
    assert.deepEqual(transport.sent.map((f) => outbox.get(f.client_message_id as string)!.text), ['one', 'one', 'two']);
  });

  it('applies an ack that comes after the timeout and does not send the row again', async () => {
    const transport = new ScriptedTransport();
    transport.answer = async () => {
      throw new BrokerError('timeout', 'The broker did not answer "send" within 10 s.');
    };
    const outbox = make(new MemoryStore(), transport);
    const row = await outbox.enqueue(request('slow'));
    await until(() => outbox.rows[0].status === 'queued' && transport.sent.length === 1, 'waiting to resend');
    transport.late.get(row.clientMessageId)!({ messageId: 'late-id', queued: true });
    assert.equal(outbox.rows[0].status, 'sent');
    assert.equal(outbox.rows[0].brokerMessageId, 'late-id');
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(transport.sent.length, 1);
  });

  it('marks a broadcast whose ack was lost to a disconnect "may not have been sent" and never resends it on its own', async () => {
    const transport = new ScriptedTransport();
    transport.answer = async () => {
      throw new BrokerError('disconnected', 'The connection to the broker was lost.');
    };
    const store = new MemoryStore();
    const outbox = make(store, transport);
    const row = await outbox.enqueue(request('hello all', '*'));
    await until(() => outbox.rows[0].status === 'unknown', 'unknown');
    outbox.kick(true);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(transport.sent.length, 1);
    assert.match(outbox.rows[0].lastError!, /may not have been sent/);
    transport.answer = async () => ({ messageId: 'm', queued: true });
    await outbox.retry(row.clientMessageId);
    await until(() => outbox.rows[0].status === 'sent', 'sent on retry');
    assert.equal(transport.sent.length, 2);
  });

  it('reloads a broadcast caught mid-send as "may not have been sent", and a DM as queued', async () => {
    const store = new MemoryStore();
    const transport = new ScriptedTransport();
    transport.connected = false;
    const before = make(store, transport);
    await before.enqueue(request('dm'));
    await before.enqueue(request('all', '*'));
    for (const key of store.keys()) await store.update(key, { ...store.get<OutboxRow>(key)!, status: 'sending' });
    const after = make(store, transport);
    assert.deepEqual(after.rows.map((r) => r.status), ['queued', 'unknown']);
  });

  it('a broadcast in flight when the window dies reloads as "may not have been sent", a DM in flight is resent', async () => {
    const store = new MemoryStore();
    const first = new ScriptedTransport();
    first.answer = () => new Promise(() => {}); // never acked: the process "dies" with both in flight
    const before = make(store, first);
    const dm = await before.enqueue(request('dm'));
    await before.enqueue(request('all', '*'));
    await until(() => first.sent.length === 2, 'both written');
    await before.flush();
    before.dispose();

    const second = new ScriptedTransport();
    const after = make(store, second);
    assert.equal(after.rows[1].status, 'unknown');
    await until(() => after.rows[0].status === 'sent', 'the DM resent');
    assert.deepEqual(second.sent.map((f) => f.client_message_id), [dm.clientMessageId]);
  });

  it('keeps pacing when the wall clock steps back an hour', async () => {
    const realNow = Date.now;
    const transport = new ScriptedTransport();
    const outbox = make(new MemoryStore(), transport, { rateLimit: { burst: 1, perMinute: 6_000 } });
    try {
      await outbox.enqueue(request('before'));
      await until(() => transport.sent.length === 1, 'the first');
      Date.now = () => realNow() - 3600_000;
      for (let i = 0; i < 3; i++) await outbox.enqueue(request(`after${i}`));
      await until(() => transport.sent.length === 4, 'the rest, paced');
    } finally {
      Date.now = realNow;
    }
  });

  it('discards every failed row at once, and deletes failed rows older than the hold expiry on load', async () => {
    const store = new MemoryStore();
    const transport = new ScriptedTransport();
    transport.answer = async () => ({ messageId: '', queued: false, error: 'blocked by recipient grants (sender lacks dm capability)' });
    const outbox = make(store, transport, { holdExpiryMs: 60_000 });
    await outbox.enqueue(request('a'));
    await outbox.enqueue(request('b'));
    await until(() => outbox.rows.every((r) => r.status === 'failed'), 'both failed');
    assert.equal(await outbox.discardFailed(), 2);
    assert.deepEqual([outbox.rows.length, store.keys().length], [0, 0]);

    await outbox.enqueue(request('old'));
    await until(() => outbox.rows[0]?.status === 'failed', 'failed');
    await outbox.flush();
    for (const key of store.keys()) await store.update(key, { ...store.get<OutboxRow>(key)!, createdAt: Date.now() - 120_000 });
    const reloaded = make(store, new ScriptedTransport(), { holdExpiryMs: 60_000 });
    assert.equal(reloaded.rows.length, 0);
    await reloaded.flush();
    assert.equal(store.keys().length, 0);
  });
});

describe('stored data of meshes', () => {
  it('removes the outbox, inbox and read markers of a mesh that is no longer joined, and keeps the joined one', async () => {
    const store = new MemoryStore();
    for (const mesh of ['kept', 'left']) {
      await store.update(`claudemesh.outbox/${mesh}/000000000001`, { seq: 1 });
      await store.update(`claudemesh.inbox/${mesh}/000000000001`, { seq: 1 });
      await store.update(`claudemesh.readMarkers/${mesh}`, {});
    }
    await store.update('claudemesh.sessionId/other', 'x');
    assert.equal(await pruneLeftMeshes(store, new Set(['kept'])), 3);
    assert.deepEqual([...store.keys()].sort(), ['claudemesh.inbox/kept/000000000001', 'claudemesh.outbox/kept/000000000001', 'claudemesh.readMarkers/kept', 'claudemesh.sessionId/other']);
  });
});
