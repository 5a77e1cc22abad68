import * as assert from 'node:assert/strict';
import { Inbox } from '../../src/broker/inbox';
import { MemoryStore } from '../../src/broker/store';
import type { InboundMessage } from '../../src/broker/types';

const MESH = 'mesh-1';
const key = (seq: number) => `claudemesh.inbox/${MESH}/${String(seq).padStart(12, '0')}`;

function message(n: number): InboundMessage {
  return { id: `in-${n}`, brokerMessageId: `b${n}`, meshId: MESH, senderPubkey: 'c'.repeat(64), kind: 'direct', text: `hello ${n}`, priority: 'next', createdAt: '', receivedAt: n };
}

describe('the inbox', () => {
  it('deletes the oldest in the same turn as it writes a new message once the history is full, so a log appends once', async () => {
    const store = new MemoryStore();
    const inbox = new Inbox({ meshId: MESH, store, maxHistory: 2 });
    for (const n of [1, 2]) await inbox.add(message(n));
    const asked: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const update = store.update.bind(store);
    store.update = (k: string, value: unknown) => {
      asked.push(`${value === undefined ? 'delete' : 'write'} ${k}`);
      return gate.then(() => update(k, value));
    };
    const adding = inbox.add(message(3));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(asked, [`write ${key(3)}`, `delete ${key(1)}`], 'both asked for before either is done');
    release();
    assert.equal(await adding, true);
    assert.deepEqual(inbox.history.map((m) => m.id), ['in-2', 'in-3']);
    assert.deepEqual([...store.keys()].sort(), [key(2), key(3)]);
  });

  it('forgets a message whose write failed, so its redelivery is stored, and keeps one whose write succeeded', async () => {
    const store = new MemoryStore();
    const inbox = new Inbox({ meshId: MESH, store, maxHistory: 1 });
    await inbox.add(message(1));
    const update = store.update.bind(store);
    store.update = (k: string, value: unknown) => (k === key(2) ? Promise.reject(new Error('disk full')) : update(k, value));
    await assert.rejects(inbox.add(message(2)), /disk full/);
    assert.equal(inbox.has('in-2'), false);
    store.update = update;
    assert.equal(await inbox.add(message(2)), true);
    assert.deepEqual(inbox.history.map((m) => m.id), ['in-2']);
    assert.equal(await inbox.add(message(2)), false, 'a duplicate now');
  });
});
