import * as assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { MeshClient } from '../../src/broker/client';
import { generateKeypair } from '../../src/broker/crypto';
import { MemoryStore } from '../../src/broker/store';
import type { InboundMessage, OutboxRow, PresenceEvent, StateChange } from '../../src/broker/types';
import { acked, MeshFixture, waitForState, waitUntil } from '../support/meshFixture';

/** Counts what a receiving client surfaces to its user, and how many distinct messages that is. */
function receiver(client: MeshClient) {
  const surfaced: InboundMessage[] = [];
  client.onDidReceiveMessage((m) => surfaced.push(m));
  return {
    surfaced,
    distinct: () => new Set(surfaced.map((m) => m.text)).size,
  };
}

/** Records every status a row was ever seen in. */
function statusLog(client: MeshClient) {
  const seen = new Set<OutboxRow['status']>();
  client.onDidChangeOutbox((rows) => rows.forEach((r) => seen.add(r.status)));
  return seen;
}

describe('mesh client against the local broker', function () {
  this.timeout(120_000);
  let fx: MeshFixture;
  afterEach(async () => fx && (await fx.close()));

  it('exchanges an encrypted DM and a broadcast, and lists both peers as visible sessions', async () => {
    fx = await MeshFixture.start();
    const alice = fx.client(fx.member('Alice'));
    const bob = fx.client(fx.member('Bob'));
    const got = receiver(bob);
    alice.connect();
    bob.connect();
    await Promise.all([waitForState(alice, 'connected'), waitForState(bob, 'connected')]);
    const peers = await alice.listPeers();
    assert.deepEqual(peers.map((p) => [p.displayName, p.peerRole, p.peerType, p.channel]).sort(), [
      ['Alice', 'session', 'human', 'claudemesh-vscode'],
      ['Bob', 'session', 'human', 'claudemesh-vscode'],
    ]);
    await alice.send(bob.sessionPubkey, 'hello bob', { label: 'Bob' });
    await alice.send('*', 'hello everyone');
    await waitUntil(() => got.surfaced.length === 2, 'two messages');
    assert.deepEqual(got.surfaced.map((m) => [m.kind, m.text]).sort(), [['direct', 'hello bob'], ['multicast', 'hello everyone']]);
    assert.equal(got.surfaced.find((m) => m.kind === 'multicast')!.senderName, 'Alice');
    await waitUntil(() => alice.outbox.every((r) => acked(r)), 'acks');
  });

  it('survives a broker stopped mid-drain of 500 DMs: 500/500 delivered, 0 duplicates surfaced', async () => {
    fx = await MeshFixture.start({ rateLimit: false, leaseMs: 300, leaseSweepMs: 100 });
    const sender = fx.client(fx.member('Sender'), { rateLimit: false });
    const target = fx.client(fx.member('Target'));
    const got = receiver(target);
    sender.connect();
    target.connect();
    await Promise.all([waitForState(sender, 'connected'), waitForState(target, 'connected')]);
    for (let i = 0; i < 500; i++) await sender.send(target.sessionPubkey, `m${i}`, { label: 'Target' });
    await waitUntil(() => got.surfaced.length >= 50, 'the drain to be under way');
    await fx.broker.stop();
    const deliveredBeforeStop = got.surfaced.length;
    await fx.broker.start();
    await waitUntil(() => got.distinct() === 500, '500 distinct messages');
    await waitUntil(() => sender.outbox.every((r) => acked(r)), 'every row acked');
    assert.ok(deliveredBeforeStop < 500, 'the broker was stopped mid-drain');
    assert.equal(got.surfaced.length, 500, 'no duplicate surfaced');
    assert.equal(target.history.length, 500);
  });

  it('delivers all 200 messages queued by a client torn down mid-send, from a new client on the same store', async () => {
    fx = await MeshFixture.start({ rateLimit: false });
    const senderMember = fx.member('Sender');
    const store = new MemoryStore();
    const first = fx.client(senderMember, { store, rateLimit: false, maxInFlight: 8 });
    const target = fx.client(fx.member('Target'));
    const got = receiver(target);
    target.connect();
    await waitForState(target, 'connected');
    for (let i = 0; i < 200; i++) await first.send(target.sessionPubkey, `t${i}`);
    first.connect();
    await waitUntil(() => first.outbox.some((r) => r.status === 'sending'), 'some rows mid-send');
    await first.dispose();
    const left = first.outbox.filter((r) => !acked(r)).length;
    assert.ok(left > 0, 'rows were still queued or mid-send at teardown');

    const second = fx.client(senderMember, { store, rateLimit: false });
    assert.equal(second.outbox.length, 200);
    second.connect();
    await waitUntil(() => got.distinct() === 200, '200 distinct messages');
    await waitUntil(() => second.outbox.every((r) => acked(r)), 'every row acked');
    assert.equal(got.surfaced.length, 200);
  });

  it('holds 30 messages to an offline peer and delivers them once it connects', async () => {
    fx = await MeshFixture.start({ rateLimit: false });
    const sender = fx.client(fx.member('Sender'), { rateLimit: false });
    const late = fx.client(fx.member('Late'));
    const got = receiver(late);
    sender.connect();
    await waitForState(sender, 'connected');
    for (let i = 0; i < 30; i++) await sender.send(late.sessionPubkey, `h${i}`, { label: 'Late' });
    await waitUntil(() => sender.outbox.every((r) => r.status === 'held'), '30 held rows');
    late.connect();
    await waitUntil(() => got.distinct() === 30, '30 messages after the peer connected');
    await waitUntil(() => sender.outbox.every((r) => acked(r)), 'every row acked');
    assert.equal(got.surfaced.length, 30);
    assert.ok(sender.outbox.every((r) => acked(r)));
  });

  it('delivers 100 messages sent at once against the rate limit, showing the user no rate-limit failure', async () => {
    const limit = { burst: 10, perMinute: 1_200 };
    fx = await MeshFixture.start({ rateLimit: limit });
    // This client does not pace itself, so the broker's rate_limit errors are what it has to absorb.
    const sender = fx.client(fx.member('Sender'), { rateLimit: false });
    const target = fx.client(fx.member('Target'));
    const got = receiver(target);
    const statuses = statusLog(sender);
    sender.connect();
    target.connect();
    await Promise.all([waitForState(sender, 'connected'), waitForState(target, 'connected')]);
    await Promise.all(Array.from({ length: 100 }, (_, i) => sender.send(target.sessionPubkey, `r${i}`)));
    await waitUntil(() => got.distinct() === 100, '100 messages');
    await waitUntil(() => sender.outbox.every((r) => acked(r)), 'every row acked');
    assert.ok(fx.broker.stats.rateLimited > 0, 'the broker did rate-limit');
    assert.equal(statuses.has('failed'), false);
    assert.ok(sender.outbox.every((r) => r.lastError === undefined));
  });

  it('paced to the broker limit: its sends never outrun the broker\'s bucket (burst 10, then one per 50 ms), and all 30 arrive', async () => {
    const limit = { burst: 10, perMinute: 1_200 };
    fx = await MeshFixture.start({ rateLimit: limit });
    const sender = fx.client(fx.member('Sender'), { rateLimit: limit });
    const target = fx.client(fx.member('Target'));
    const got = receiver(target);
    sender.connect();
    target.connect();
    await Promise.all([waitForState(sender, 'connected'), waitForState(target, 'connected')]);
    // When each `send` frame leaves the client. The broker's own count of rate_limit replies is not the measure: it
    // takes its tokens when a handler runs, after a random delay and whatever stall a loaded machine adds, so frames
    // that left properly spaced can reach it bunched (the client's margin is 5 % + 20 ms a token, not a busy CI's).
    const written: number[] = [];
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (this: WebSocket, data: unknown, ...rest: unknown[]) {
      if (typeof data === 'string' && data.startsWith('{"type":"send"')) written.push(performance.now());
      return (send as (...args: unknown[]) => void).call(this, data, ...rest);
    } as typeof send;
    try {
      await Promise.all(Array.from({ length: 30 }, (_, i) => sender.send(target.sessionPubkey, `p${i}`)));
      await waitUntil(() => got.distinct() === 30, '30 messages');
    } finally {
      WebSocket.prototype.send = send;
    }
    // A bucket of 10 that refills one token per 50 ms admits at most 10 + Δt / 50 ms sends in any stretch of Δt.
    for (let i = 0; i < written.length; i++) {
      for (let j = i; j < written.length; j++) {
        const allowed = limit.burst + ((written[j] - written[i]) * limit.perMinute) / 60_000;
        assert.ok(j - i + 1 <= allowed, `sends ${i}..${j}: ${j - i + 1} in ${Math.round(written[j] - written[i])} ms, the bucket allows ${allowed.toFixed(2)}`);
      }
    }
    assert.ok(written.length >= 30, `every message was written (${written.length})`);
  });

  it('keeps the peer list current from presence pushes and re-sends nothing it already showed', async () => {
    fx = await MeshFixture.start({ graceMs: 100 });
    const watcher = fx.client(fx.member('Watcher'));
    const events: PresenceEvent[] = [];
    watcher.onPresence((e) => events.push(e));
    watcher.connect();
    await waitForState(watcher, 'connected');
    await waitUntil(() => watcher.peers.length === 1, 'own row listed');
    const visitor = fx.client(fx.member('Visitor'));
    visitor.connect();
    assert.equal(watcher.otherPeerCount, 0, 'our own row is not counted');
    await waitUntil(() => watcher.peers.some((p) => p.displayName === 'Visitor'), 'visitor listed');
    assert.equal(events[0].event, 'peer_joined');
    assert.equal(watcher.otherPeerCount, 1);
    await visitor.disconnect();
    await waitUntil(() => !watcher.peers.some((p) => p.displayName === 'Visitor'), 'visitor gone after grace');
    assert.ok(events.some((e) => e.event === 'peer_left' && e.name === 'Visitor'));
    assert.equal(watcher.otherPeerCount, 0, 'the count follows a peer_left');
  });

  it('says whether the peer list of the current connection has arrived yet', async () => {
    fx = await MeshFixture.start();
    const client = fx.client(fx.member('Watcher'));
    assert.equal(client.peersListed, false);
    client.connect();
    await waitUntil(() => client.peersListed, 'the first peer list');
    assert.equal(client.state.kind, 'connected');
    await fx.broker.stop();
    await waitUntil(() => client.state.kind !== 'connected', 'the connection to drop');
    assert.equal(client.peersListed, false, 'a list from an earlier connection does not count');
    await fx.broker.start();
    await waitUntil(() => client.peersListed, 'the list of the new connection');
  });

  it('reads and writes shared state, memories and skills with the broker\'s real reply names', async () => {
    fx = await MeshFixture.start();
    const alice = fx.client(fx.member('Alice'));
    const bob = fx.client(fx.member('Bob'));
    const changes: StateChange[] = [];
    const aliceChanges: StateChange[] = [];
    bob.onDidChangeSharedState((c) => changes.push(c));
    alice.onDidChangeSharedState((c) => aliceChanges.push(c));
    alice.connect();
    bob.connect();
    await Promise.all([waitForState(alice, 'connected'), waitForState(bob, 'connected')]);

    await alice.setState('build', { ok: true });
    assert.deepEqual(aliceChanges, [{ key: 'build', value: { ok: true }, updatedBy: 'Alice' }], 'the writer sees its own write at once');
    await waitUntil(() => changes.length === 1, 'state_change at the other peer');
    assert.deepEqual(changes[0], { key: 'build', value: { ok: true }, updatedBy: 'Alice' });
    assert.deepEqual((await bob.getState('build'))?.value, { ok: true });
    assert.equal(await bob.getState('missing'), undefined);
    assert.deepEqual((await bob.listState()).map((e) => e.key), ['build']);
    await assert.rejects(alice.setState('x', null), /cannot be empty/);

    const id = await alice.remember('the staging database lives on port 5433', ['infra']);
    const found = await bob.recall('staging database');
    assert.deepEqual(found.map((m) => m.id), [id]);
    await bob.forget(id);
    assert.deepEqual(await alice.recall('staging database'), []);

    await alice.shareSkill({ name: 'deploy', description: 'Ship it', instructions: '# Deploy\nRun make deploy.', tags: ['ops'] });
    assert.deepEqual((await bob.listSkills()).map((s) => [s.name, s.author]), [['deploy', 'Alice']]);
    assert.equal((await bob.getSkill('deploy'))?.instructions, '# Deploy\nRun make deploy.');
    assert.equal(await bob.removeSkill('deploy'), true);
    assert.equal(await bob.removeSkill('deploy'), false);
    assert.equal(await bob.getSkill('deploy'), undefined);

    await alice.setSummary('reviewing PR 12');
    await alice.setStatus('dnd');
    await alice.setVisible(true);
    await alice.setProfile({ title: 'Reviewer' });
    const info = await bob.meshInfo();
    assert.equal(typeof info.peers, 'number');
    // The broker applies set_summary/set_status a moment later (§11), so another peer sees them on a later list.
    let listed = await bob.listPeers();
    const aliceRow = () => listed.find((p) => p.displayName === 'Alice');
    while (aliceRow()?.status !== 'dnd' || aliceRow()?.summary !== 'reviewing PR 12') listed = await bob.listPeers();
    assert.equal(aliceRow()?.profile?.title, 'Reviewer');
  });

  it('stops retrying and says why when the member is revoked', async () => {
    fx = await MeshFixture.start();
    const member = fx.member('Doomed');
    const client = fx.client(member);
    client.connect();
    await waitForState(client, 'connected');
    fx.broker.revoke(fx.meshRecord.meshId, member.mesh.pubkey);
    const state = await waitForState(client, 'failed');
    assert.equal(state.kind === 'failed' && state.code, 'revoked');
    assert.match(state.kind === 'failed' ? state.reason : '', /removed from/);
  });

  it('reports an identity the broker does not know as unauthorized, without retrying', async () => {
    fx = await MeshFixture.start();
    const stranger = fx.member('Stranger');
    const unknown = { ...stranger, mesh: { ...stranger.mesh, ...(await import('../../src/broker/crypto')).generateKeypair() } };
    const client = fx.client(unknown);
    client.connect();
    const state = await waitForState(client, 'failed');
    assert.equal(state.kind === 'failed' && state.code, 'unauthorized');
    const opened = fx.broker.stats.connectionsOpened;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(fx.broker.stats.connectionsOpened, opened, 'no reconnect attempts');
  });

  it('reattaches silently after a reload within the grace period, keeping the same session key', async () => {
    fx = await MeshFixture.start();
    const watcher = fx.client(fx.member('Watcher'));
    const events: PresenceEvent[] = [];
    watcher.onPresence((e) => events.push(e));
    watcher.connect();
    await waitForState(watcher, 'connected');
    const member = fx.member('Reloader');
    const before = fx.client(member);
    before.connect();
    await waitUntil(() => events.length === 1, 'first join');
    await before.dispose();
    const after = fx.client(member);
    after.connect();
    await waitForState(after, 'connected');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(events.map((e) => e.event), ['peer_joined']);
  });
});

/**
 * Each of these pins a way the real broker behaves (§11) that the local broker now copies, and that the client used
 * to get wrong: they fail on the client before issue 12.
 */
describe('mesh client against a broker that behaves like the real one', function () {
  this.timeout(60_000);
  let fx: MeshFixture;
  afterEach(async () => fx && (await fx.close()));

  async function connected(...clients: MeshClient[]): Promise<void> {
    for (const c of clients) c.connect();
    await Promise.all(clients.map((c) => waitForState(c, 'connected')));
  }

  it('delivers 30 DMs to one peer in the order they were written, though the broker handles frames concurrently', async () => {
    fx = await MeshFixture.start({ rateLimit: false });
    const alice = fx.client(fx.member('Alice'), { rateLimit: false });
    const bob = fx.client(fx.member('Bob'));
    const got = receiver(bob);
    await connected(alice, bob);
    for (let i = 0; i < 30; i++) await alice.send(bob.sessionPubkey, String(i));
    await waitUntil(() => got.surfaced.length === 30, '30 DMs');
    assert.deepEqual(got.surfaced.map((m) => m.text), Array.from({ length: 30 }, (_, i) => String(i)));
  });

  it('keeps the peer list when one member\'s hello put odd values into every row', async () => {
    fx = await MeshFixture.start();
    const alice = fx.client(fx.member('Alice'));
    // The real broker copies hello fields into peers_list untyped: this peer's row says hostname {} and channel 1.
    const odd = fx.client(fx.member('Odd'), { hostname: {} as unknown as string, channel: 1 as unknown as string });
    const bob = fx.client(fx.member('Bob'));
    await connected(alice, odd, bob);
    const peers = await alice.listPeers();
    assert.deepEqual(peers.map((p) => p.displayName).sort(), ['Alice', 'Bob', 'Odd']);
    const oddRow = peers.find((p) => p.displayName === 'Odd')!;
    assert.equal(oddRow.hostname, undefined);
    assert.equal(oddRow.channel, undefined);
    assert.equal(oddRow.peerType, 'human');
  });

  it('shows its own new status, summary, visibility and profile at once, and an earlier-answered list does not undo them', async () => {
    fx = await MeshFixture.start();
    const alice = fx.client(fx.member('Alice'));
    await connected(alice);
    const mine = () => alice.peers.find((p) => p.pubkey === alice.sessionPubkey);
    await alice.listPeers();
    await alice.setStatus('dnd');
    await alice.setSummary('reviewing');
    assert.equal(mine()?.status, 'dnd');
    // The broker answers this list before it has applied the writes above (§11).
    await alice.listPeers();
    assert.deepEqual([mine()?.status, mine()?.summary], ['dnd', 'reviewing']);
    await alice.setVisible(false);
    await alice.setProfile({ title: 'Reviewer' });
    await alice.listPeers();
    assert.deepEqual([mine()?.visible, mine()?.profile?.title], [false, 'Reviewer']);
    await alice.setStatus('idle');
    await alice.listPeers();
    assert.equal(mine()?.status, 'idle');
  });

  it('receives the DMs held back while it was in do-not-disturb within 2 s of going back to idle', async () => {
    fx = await MeshFixture.start();
    const alice = fx.client(fx.member('Alice'));
    const bob = fx.client(fx.member('Bob'));
    const got = receiver(bob);
    await connected(alice, bob);
    await bob.setStatus('dnd');
    await waitUntil(() => alice.peers.find((p) => p.pubkey === bob.sessionPubkey)?.status === 'dnd' || (void alice.listPeers(), false), 'Bob in dnd');
    await alice.send(bob.sessionPubkey, 'while you were busy');
    await waitUntil(() => alice.outbox.every(acked), 'the DM acked');
    assert.equal(got.surfaced.length, 0, 'the broker holds a next-priority DM for a dnd peer');
    await bob.setStatus('idle');
    await waitUntil(() => got.surfaced.length === 1, 'the held DM', 2_000);
    assert.equal(got.surfaced[0].text, 'while you were busy');
  });

  it('marks a DM delivered once the recipient has acknowledged it', async () => {
    fx = await MeshFixture.start();
    const alice = fx.client(fx.member('Alice'), { deliveryPollMs: 20 });
    const bob = fx.client(fx.member('Bob'));
    await connected(alice, bob);
    const row = await alice.send(bob.sessionPubkey, 'hi');
    await waitUntil(() => alice.outbox[0]?.status === 'delivered', 'delivered');
    assert.ok((alice.outbox[0].deliveredAt ?? 0) >= row.createdAt);
  });

  it('marks a DM to a session in its grace "not delivered", naming who it was for, once that session is gone', async () => {
    fx = await MeshFixture.start({ graceMs: 300 });
    const alice = fx.client(fx.member('Alice'), { deliveryPollMs: 20 });
    const bob = fx.client(fx.member('Bob'), { cwd: '/home/bob/api' });
    await connected(alice, bob);
    await alice.listPeers();
    await bob.dispose();
    // Within its grace the broker still lists Bob and accepts the DM (§11).
    await alice.send(bob.sessionPubkey, 'are you there?', { label: 'Bob' });
    await waitUntil(() => alice.outbox[0]?.status === 'sent', 'acked');
    await waitUntil(() => alice.outbox[0]?.status === 'not_delivered', 'not delivered');
    assert.match(alice.outbox[0].notDeliveredReason ?? '', /Bob \(.*\/home\/bob\/api\)/);
    assert.equal(alice.outbox[0].recipient?.name, 'Bob');
  });

  it('sends a DM that was not delivered to another session of the same member, under the same client_message_id', async () => {
    fx = await MeshFixture.start({ graceMs: 300 });
    const alice = fx.client(fx.member('Alice'), { deliveryPollMs: 20 });
    const bobMember = fx.member('Bob');
    const bob1 = fx.client(bobMember, { cwd: '/one' });
    const bob2 = fx.client({ ...bobMember, sessionKey: generateKeypair() }, { cwd: '/two' });
    const got = receiver(bob2);
    await connected(alice, bob1, bob2);
    await alice.listPeers();
    await bob1.dispose();
    const row = await alice.send(bob1.sessionPubkey, 'for whichever Bob is here', { label: 'Bob' });
    await waitUntil(() => alice.outbox[0]?.status === 'not_delivered', 'not delivered');
    const others = alice.otherSessionsFor(alice.outbox[0]);
    assert.deepEqual(others.map((p) => [p.pubkey, p.cwd]), [[bob2.sessionPubkey, '/two']]);
    await alice.resendTo(row.clientMessageId, bob2.sessionPubkey);
    await waitUntil(() => got.surfaced.length === 1, 'the DM at the other session');
    assert.deepEqual([got.surfaced[0].text, got.surfaced[0].id], ['for whichever Bob is here', row.clientMessageId]);
    await waitUntil(() => alice.outbox[0]?.status === 'delivered', 'delivered to the other session');
  });

  it('sends no client_ack for a message it could not store, so the broker\'s redelivery is kept', async () => {
    fx = await MeshFixture.start({ leaseMs: 100, leaseSweepMs: 20 });
    const store = new MemoryStore();
    let failNext = true;
    const update = store.update.bind(store);
    store.update = (key: string, value: unknown) => {
      if (failNext && key.startsWith('claudemesh.inbox/')) {
        failNext = false;
        return Promise.reject(new Error('disk full'));
      }
      return update(key, value);
    };
    const alice = fx.client(fx.member('Alice'));
    const bob = fx.client(fx.member('Bob'), { store });
    const got = receiver(bob);
    await connected(alice, bob);
    await alice.send(bob.sessionPubkey, 'first');
    await waitUntil(() => !failNext, 'the failed write');
    await new Promise((r) => setTimeout(r, 200));
    // The lease ran out unacked; the next drain (a DM to Bob) pushes the first one again.
    await alice.send(bob.sessionPubkey, 'second');
    await waitUntil(() => got.surfaced.length === 2, 'both messages');
    assert.deepEqual(got.surfaced.map((m) => m.text).sort(), ['first', 'second']);
    assert.equal(bob.history.length, 2);
  });

  it('keeps a webhook push as the webhook\'s name and data, not as an empty broadcast', async () => {
    fx = await MeshFixture.start();
    const watcher = fx.client(fx.member('Watcher'));
    const got: InboundMessage[] = [];
    watcher.onDidReceiveMessage((m) => got.push(m));
    watcher.connect();
    await waitForState(watcher, 'connected');
    assert.equal(fx.broker.webhook(fx.meshRecord.meshId, 'ci', { build: 'green', n: 7 }), 1);
    await waitUntil(() => got.length === 1, 'the webhook message');
    assert.deepEqual([got[0].subtype, got[0].webhook, got[0].senderName, got[0].text], ['webhook', 'ci', 'webhook ci', '{"build":"green","n":7}']);
    assert.deepEqual(watcher.history.map((m) => m.webhook), ['ci'], 'stored as a webhook too');
  });

  it('refuses a request over the frame limit before writing it, naming size and limit, and keeps the connection', async () => {
    fx = await MeshFixture.start();
    const alice = fx.client(fx.member('Alice'));
    await connected(alice);
    const big = alice.shareSkill({ name: 'big', description: 'd', instructions: 'x'.repeat(70_000) });
    const meanwhile = alice.listPeers();
    await assert.rejects(big, /skill is too large.*6[89] KiB.*64 KiB/);
    assert.equal((await meanwhile).length, 1);
    assert.equal(alice.state.kind, 'connected');
    await assert.rejects(alice.remember('y'.repeat(70_000)), /memory is too large/);
  });
});
