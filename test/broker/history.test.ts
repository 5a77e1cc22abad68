import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MeshClient } from '../../src/broker/client';
import { generateKeypair } from '../../src/broker/crypto';
import { LogStore, migrateHistory, OutboxSplitStore } from '../../src/broker/history';
import { MemoryStore } from '../../src/broker/store';
import type { InboundMessage, OutboxRow } from '../../src/broker/types';
import { MeshFixture, waitForState, waitUntil } from '../support/meshFixture';

const MESH = 'mesh-1';
const PEER = 'c'.repeat(64);

function row(seq: number, status: OutboxRow['status'], extra: Partial<OutboxRow> = {}): OutboxRow {
  return {
    seq,
    clientMessageId: `cmid-${seq}`,
    fingerprint: 'f'.repeat(64),
    meshId: MESH,
    targetSpec: PEER,
    targetLabel: 'Peer',
    priority: 'next',
    nonce: 'bm9uY2U=',
    ciphertext: 'aGk=',
    text: `message ${seq}`,
    status,
    attempts: status === 'queued' ? 0 : 1,
    nextAttemptAt: 0,
    createdAt: 1_700_000_000_000 + seq,
    ...extra,
  };
}

function received(seq: number): InboundMessage & { seq: number } {
  return {
    seq,
    id: `in-${seq}`,
    brokerMessageId: `b${seq}`,
    meshId: MESH,
    senderPubkey: PEER,
    kind: 'direct',
    text: `hello ${seq}`,
    priority: 'next',
    createdAt: new Date(1_700_000_000_000 + seq).toISOString(),
    receivedAt: 1_700_000_000_000 + seq,
  };
}

const key = (kind: 'inbox' | 'outbox', seq: number) => `claudemesh.${kind}/${MESH}/${String(seq).padStart(12, '0')}`;

describe('history log', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'claudemesh-history-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads back every record written, with deletes applied, after a restart', async () => {
    const file = path.join(dir, 'h.jsonl');
    const first = new LogStore(file);
    await Promise.all([first.update('a', { n: 1 }), first.update('b', { n: 2 }), first.update('a', { n: 3 })]);
    await first.update('b', undefined);
    const second = new LogStore(file);
    assert.deepEqual(second.keys(), ['a']);
    assert.deepEqual(second.get('a'), { n: 3 });
  });

  it('writes the updates made in one tick as one append of one line each', async () => {
    const file = path.join(dir, 'h.jsonl');
    const store = new LogStore(file);
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.update(`k${i}`, { i })));
    assert.equal(fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length, 50);
    assert.equal(store.bytesWritten, fs.statSync(file).size);
  });

  it('skips a torn last line left by a crash, keeps the rest, and rewrites the file on the next write', async () => {
    const file = path.join(dir, 'h.jsonl');
    const first = new LogStore(file);
    await Promise.all([first.update('a', { n: 1 }), first.update('b', { n: 2 })]);
    fs.appendFileSync(file, '{"k":"c","v":{"n":');
    const warnings: string[] = [];
    const log = { trace() {}, debug() {}, info() {}, warn: (m: string) => warnings.push(m), error() {} };
    const second = new LogStore(file, { log });
    assert.deepEqual(second.keys(), ['a', 'b']);
    assert.equal(warnings.length, 1);
    await second.update('d', { n: 4 });
    const third = new LogStore(file);
    assert.deepEqual(third.keys(), ['a', 'b', 'd']);
    assert.ok(fs.readFileSync(file, 'utf8').endsWith('\n'));
  });

  it('compacts: rewriting one record 5,000 times leaves a file a small multiple of what is live', async () => {
    const file = path.join(dir, 'h.jsonl');
    const store = new LogStore(file);
    await store.update('keep', { text: 'x'.repeat(200) });
    for (let i = 0; i < 5_000; i++) await store.update('hot', { i, text: 'y'.repeat(200) });
    assert.ok(fs.statSync(file).size < 200 * 1024, `the file grew to ${fs.statSync(file).size} bytes`);
    const reread = new LogStore(file);
    assert.deepEqual(reread.get('hot'), { i: 4_999, text: 'y'.repeat(200) });
    assert.ok(reread.get('keep'));
  });

  it('stays within its size bound by dropping the records written longest ago', async () => {
    const file = path.join(dir, 'h.jsonl');
    const store = new LogStore(file, { maxBytes: 20_000 });
    for (let i = 0; i < 500; i++) await store.update(`m${String(i).padStart(4, '0')}`, { text: 'z'.repeat(100) });
    const reread = new LogStore(file);
    assert.ok(fs.statSync(file).size <= 20_000 + 130, `the file is ${fs.statSync(file).size} bytes`);
    assert.ok(reread.get('m0499'), 'the newest record is kept');
    assert.equal(reread.get('m0000'), undefined, 'the oldest record is dropped');
  });
});

describe('outbox rows split between the workspace and the history', () => {
  const prefix = `claudemesh.outbox/${MESH}/`;

  it('keeps a row in the workspace until it is sent, then only in the history; a row that needs the user again moves back', async () => {
    const workspace = new MemoryStore();
    const history = new MemoryStore();
    const split = new OutboxSplitStore(prefix, workspace, history);
    await split.update(key('outbox', 1), row(1, 'queued'));
    assert.deepEqual([workspace.keys(), history.keys()], [[key('outbox', 1)], []]);
    await split.update(key('outbox', 1), row(1, 'sent'));
    assert.deepEqual([workspace.keys(), history.keys()], [[], [key('outbox', 1)]]);
    await split.update(key('outbox', 1), row(1, 'not_delivered'));
    assert.deepEqual([workspace.keys(), history.keys()], [[key('outbox', 1)], []]);
    assert.equal(split.get<OutboxRow>(key('outbox', 1))!.status, 'not_delivered');
    assert.equal('storeRev' in split.get<OutboxRow>(key('outbox', 1))!, false, 'the revision stamp stays inside the store');
  });

  it('after a crash between the two writes of a move, loads the newer copy in either direction', async () => {
    const workspace = new MemoryStore();
    const history = new MemoryStore();
    // Sent (rev 2, in the history) while the workspace still has the row as sending (rev 1).
    await workspace.update(key('outbox', 1), { ...row(1, 'sending'), storeRev: 1 });
    await history.update(key('outbox', 1), { ...row(1, 'sent'), storeRev: 2 });
    // Redirected (rev 4, queued again in the workspace) while the history still has it as sent (rev 3).
    await history.update(key('outbox', 2), { ...row(2, 'sent'), storeRev: 3 });
    await workspace.update(key('outbox', 2), { ...row(2, 'queued'), storeRev: 4 });
    const split = new OutboxSplitStore(prefix, workspace, history);
    assert.equal(split.get<OutboxRow>(key('outbox', 1))!.status, 'sent');
    assert.equal(split.get<OutboxRow>(key('outbox', 2))!.status, 'queued');
    assert.deepEqual([workspace.keys(), history.keys()], [[key('outbox', 2)], [key('outbox', 1)]]);
  });
});

describe('moving history out of the workspace store', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'claudemesh-migrate-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** What today's versions leave in workspaceState: one record per received message, one per outbox row. */
  async function todaysWorkspace(): Promise<MemoryStore> {
    const workspace = new MemoryStore();
    for (let seq = 1; seq <= 30; seq++) await workspace.update(key('inbox', seq), received(seq));
    for (let seq = 1; seq <= 20; seq++) await workspace.update(key('outbox', seq), row(seq, 'sent', { sentAt: 1_700_000_001_000 + seq, brokerMessageId: `b${seq}` }));
    await workspace.update(key('outbox', 21), row(21, 'queued'));
    await workspace.update(key('outbox', 22), row(22, 'failed', { lastError: 'nope' }));
    await workspace.update(`claudemesh.readMarkers/${MESH}`, { [PEER]: 1_700_000_000_010 });
    await workspace.update('claudemesh.inbox/other-mesh/000000000001', received(1));
    return workspace;
  }

  function client(workspace: MemoryStore, history: LogStore): MeshClient {
    const mesh = { meshId: MESH, memberId: 'm', slug: 'm', name: 'm', pubkey: 'a'.repeat(64), secretKey: 'b'.repeat(128), brokerUrl: 'ws://127.0.0.1:9/ws', joinedAt: '' };
    return new MeshClient({ mesh, store: workspace, history, sessionKey: generateKeypair(), sessionId: 'migrate', cwd: '/tmp' });
  }

  it("starts from today's stored shape: history moves to the log, the workspace keeps only unsent rows and markers", async () => {
    const workspace = await todaysWorkspace();
    const file = path.join(dir, `${MESH}.0.jsonl`);
    const first = client(workspace, new LogStore(file));
    assert.equal(first.history.length, 30);
    assert.equal(first.outbox.length, 22);
    await first.dispose();
    assert.deepEqual([...workspace.keys()].sort(), [
      'claudemesh.inbox/other-mesh/000000000001',
      key('outbox', 21),
      key('outbox', 22),
      `claudemesh.readMarkers/${MESH}`,
    ]);

    const second = client(workspace, new LogStore(file));
    assert.deepEqual(second.history.map((m) => m.text), Array.from({ length: 30 }, (_, i) => `hello ${i + 1}`));
    assert.deepEqual(second.outbox.map((r) => [r.seq, r.status]), [...Array.from({ length: 20 }, (_, i) => [i + 1, 'sent']), [21, 'queued'], [22, 'failed']]);
    assert.equal(await migrateHistory(MESH, workspace, new LogStore(file)), 0, 'a second migration finds nothing to move');
    await second.dispose();
  });
});

describe('a client whose history is a log beside a workspace store', function () {
  this.timeout(60_000);
  let fx: MeshFixture;
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'claudemesh-split-'))));
  afterEach(async () => {
    await fx?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('leaves no received message and no sent row in the workspace store, and finds both in the log after a restart', async () => {
    fx = await MeshFixture.start({ rateLimit: false });
    const aliceMember = fx.member('Alice');
    const workspace = new MemoryStore();
    const file = path.join(dir, 'alice.jsonl');
    const alice = fx.client(aliceMember, { store: workspace, history: new LogStore(file), rateLimit: false });
    const bob = fx.client(fx.member('Bob'), { rateLimit: false });
    alice.connect();
    bob.connect();
    await Promise.all([waitForState(alice, 'connected'), waitForState(bob, 'connected')]);
    for (let i = 0; i < 20; i++) await alice.send(bob.sessionPubkey, `to bob ${i}`);
    for (let i = 0; i < 20; i++) await bob.send(alice.sessionPubkey, `to alice ${i}`);
    await waitUntil(() => alice.history.length === 20 && alice.outbox.every((r) => r.status === 'sent'), 'twenty each way');
    await alice.flush();
    assert.deepEqual(workspace.keys(), []);
    await alice.dispose();

    const again = fx.client(aliceMember, { store: workspace, history: new LogStore(file) });
    assert.equal(again.history.length, 20);
    assert.deepEqual(again.outbox.map((r) => r.text), Array.from({ length: 20 }, (_, i) => `to bob ${i}`));
  });
});
