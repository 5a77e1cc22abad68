import * as assert from 'node:assert/strict';
import { MeshClient } from '../../src/broker/client';
import { MemoryStore } from '../../src/broker/store';
import type { InboundMessage, OutboxRow, PresenceEvent, StateChange } from '../../src/broker/types';
import { MeshFixture, waitForState, waitUntil } from '../support/meshFixture';

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
    await waitUntil(() => alice.outbox.every((r) => r.status === 'sent'), 'acks');
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
    await waitUntil(() => sender.outbox.every((r) => r.status === 'sent'), 'every row acked');
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
    const left = first.outbox.filter((r) => r.status !== 'sent').length;
    assert.ok(left > 0, 'rows were still queued or mid-send at teardown');

    const second = fx.client(senderMember, { store, rateLimit: false });
    assert.equal(second.outbox.length, 200);
    second.connect();
    await waitUntil(() => got.distinct() === 200, '200 distinct messages');
    await waitUntil(() => second.outbox.every((r) => r.status === 'sent'), 'every row acked');
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
    await waitUntil(() => sender.outbox.every((r) => r.status === 'sent'), 'every row acked');
    assert.equal(got.surfaced.length, 30);
    assert.ok(sender.outbox.every((r) => r.status === 'sent'));
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
    await waitUntil(() => sender.outbox.every((r) => r.status === 'sent'), 'every row acked');
    assert.ok(fx.broker.stats.rateLimited > 0, 'the broker did rate-limit');
    assert.equal(statuses.has('failed'), false);
    assert.ok(sender.outbox.every((r) => r.lastError === undefined));
  });

  it('paced to the broker limit, sends 30 messages without a single rate_limit error', async () => {
    const limit = { burst: 10, perMinute: 1_200 };
    fx = await MeshFixture.start({ rateLimit: limit });
    const sender = fx.client(fx.member('Sender'), { rateLimit: limit });
    const target = fx.client(fx.member('Target'));
    const got = receiver(target);
    sender.connect();
    target.connect();
    await Promise.all([waitForState(sender, 'connected'), waitForState(target, 'connected')]);
    await Promise.all(Array.from({ length: 30 }, (_, i) => sender.send(target.sessionPubkey, `p${i}`)));
    await waitUntil(() => got.distinct() === 30, '30 messages');
    assert.equal(fx.broker.stats.rateLimited, 0);
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
    const listed = await bob.listPeers();
    assert.equal(listed.find((p) => p.displayName === 'Alice')?.summary, 'reviewing PR 12');
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
