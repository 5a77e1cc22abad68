/**
 * The local broker against the protocol sheet (docs/protocol.md), driven by raw `ws` clients that sign
 * with tweetnacl. "Nothing else arrived" is always proven with a later frame that must come first, never by waiting.
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import nacl from 'tweetnacl';
import { WebSocket, type ClientOptions } from 'ws';
import { type LocalBroker, type LocalBrokerOptions, type MemberRecord, type MeshRecord, startLocalBroker } from '../support/localBroker';

/** Frames are free-form JSON; tests read whatever fields they assert on. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Frame = Record<string, any>;

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A bare protocol client: frames queue up in an inbox that tests take from in arrival order. */
class RawPeer {
  private readonly inbox: Frame[] = [];
  private readonly waiters = new Set<() => void>();
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.inbox.push(JSON.parse(data.toString()) as Frame);
      for (const wake of this.waiters) wake();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static open(url: string, options?: ClientOptions): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, options);
      const peer = new RawPeer(ws);
      ws.once('open', () => resolve(peer));
      ws.once('error', reject);
    });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The first queued frame matching `match` (default: the very next frame), waiting up to 3 s for it. */
  async next(match: (f: Frame) => boolean = () => true, what = 'the next frame'): Promise<Frame> {
    const deadline = Date.now() + 3000;
    for (;;) {
      const index = this.inbox.findIndex(match);
      if (index >= 0) return this.inbox.splice(index, 1)[0];
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; inbox: ${JSON.stringify(this.inbox)}`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.waiters.add(wake);
      });
    }
  }

  /** Sends a request with a fresh `_reqId` and returns the reply that carries it. */
  async request(frame: Frame): Promise<Frame> {
    const reqId = randomUUID();
    this.send({ ...frame, _reqId: reqId });
    return this.next((f) => f._reqId === reqId, `the reply to ${frame.type}`);
  }

  /** Everything received and not yet taken. */
  pending(): Frame[] {
    return [...this.inbox];
  }
}

interface Identity {
  pubkey: string;
  secretKey: Uint8Array;
}

function newIdentity(): Identity {
  const pair = nacl.sign.keyPair();
  return { pubkey: Buffer.from(pair.publicKey).toString('hex'), secretKey: pair.secretKey };
}

function sign(message: string, secretKey: Uint8Array): string {
  return Buffer.from(nacl.sign.detached(Buffer.from(message, 'utf8'), secretKey)).toString('hex');
}

interface Member {
  record: MemberRecord;
  id: Identity;
}

function memberHello(mesh: MeshRecord, m: Member, fields: Frame = {}, opts: { timestamp?: number; signer?: Identity } = {}): Frame {
  const timestamp = opts.timestamp ?? Date.now();
  const signed = `${mesh.meshId}|${m.record.memberId}|${m.id.pubkey}|${timestamp}`;
  return {
    type: 'hello',
    meshId: mesh.meshId,
    memberId: m.record.memberId,
    pubkey: m.id.pubkey,
    sessionId: `session-${randomUUID()}`,
    pid: 4242,
    cwd: '/work/project',
    timestamp,
    signature: sign(signed, (opts.signer ?? m.id).secretKey),
    ...fields,
  };
}

interface SessionHelloOptions {
  expiresAt?: number;
  attestationSigner?: Identity;
  attestationFields?: Frame;
  timestamp?: number;
  signer?: Identity;
  fields?: Frame;
}

function sessionHello(mesh: MeshRecord, m: Member, session: Identity, opts: SessionHelloOptions = {}): Frame {
  const expiresAt = opts.expiresAt ?? Date.now() + 12 * 3600_000;
  const timestamp = opts.timestamp ?? Date.now();
  const attestation = {
    sessionPubkey: session.pubkey,
    parentMemberPubkey: m.id.pubkey,
    expiresAt,
    signature: sign(
      `claudemesh-session-attest|${m.id.pubkey}|${session.pubkey}|${expiresAt}`,
      (opts.attestationSigner ?? m.id).secretKey,
    ),
    ...opts.attestationFields,
  };
  return {
    type: 'session_hello',
    meshId: mesh.meshId,
    parentMemberId: m.record.memberId,
    parentMemberPubkey: m.id.pubkey,
    sessionPubkey: session.pubkey,
    parentAttestation: attestation,
    sessionId: `session-${randomUUID()}`,
    pid: 5151,
    cwd: '/work/session',
    timestamp,
    signature: sign(
      `claudemesh-session-hello|${mesh.meshId}|${m.id.pubkey}|${session.pubkey}|${timestamp}`,
      (opts.signer ?? session).secretKey,
    ),
    ...opts.fields,
  };
}

describe('local broker', function () {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const undo of cleanup.splice(0).reverse()) await undo();
  });

  interface Fixture {
    broker: LocalBroker;
    mesh: MeshRecord;
    logLines: string[];
    member(name: string, groups?: { name: string; role?: string }[]): Member;
    connect(path?: string, options?: ClientOptions): Promise<RawPeer>;
    join(m: Member, fields?: Frame): Promise<{ peer: RawPeer; ack: Frame; hello: Frame }>;
    joinSession(m: Member, session?: Identity, fields?: Frame): Promise<{ peer: RawPeer; ack: Frame }>;
    waitForLog(pattern: RegExp): Promise<void>;
  }

  async function setup(options: LocalBrokerOptions = {}): Promise<Fixture> {
    const logLines: string[] = [];
    // In order and without the status lag unless a test asks: most of these pin wire shapes, not timing.
    const broker = await startLocalBroker({ log: (line) => logLines.push(line), frameDelayMs: 0, statusLagMs: 0, ...options });
    cleanup.push(() => broker.close());
    const mesh = broker.addMesh({ name: 'Team Mesh', slug: 'team-mesh' });
    const fixture: Fixture = {
      broker,
      mesh,
      logLines,
      member(name, groups) {
        const id = newIdentity();
        return { id, record: broker.addMember(mesh.meshId, { pubkey: id.pubkey, displayName: name, groups }) };
      },
      async connect(path = '/ws', clientOptions) {
        const peer = await RawPeer.open(`ws://127.0.0.1:${broker.port}${path}`, clientOptions);
        cleanup.push(() => peer.ws.terminate());
        return peer;
      },
      async join(m, fields = {}) {
        const peer = await fixture.connect();
        const hello = memberHello(mesh, m, fields);
        peer.send(hello);
        const ack = await peer.next((f) => f.type === 'hello_ack', 'hello_ack');
        return { peer, ack, hello };
      },
      async joinSession(m, session = newIdentity(), fields = {}) {
        const peer = await fixture.connect();
        peer.send(sessionHello(mesh, m, session, { fields }));
        const ack = await peer.next((f) => f.type === 'hello_ack', 'hello_ack');
        return { peer, ack };
      },
      async waitForLog(pattern) {
        while (!logLines.some((line) => pattern.test(line))) await delay(5);
      },
    };
    return fixture;
  }

  const isPush = (f: Frame) => f.type === 'push' && f.subtype === undefined;
  const isEvent = (event: string) => (f: Frame) => f.type === 'push' && f.subtype === 'system' && f.event === event;
  const dm = (target: string, id: string, priority = 'next', extra: Frame = {}) => ({
    type: 'send',
    id,
    targetSpec: target,
    priority,
    nonce: Buffer.from(`nonce-${id}`).toString('base64'),
    ciphertext: Buffer.from(`body-${id}`).toString('base64'),
    ...extra,
  });
  const ackFor = (id: string) => (f: Frame) => f.type === 'ack' && f.id === id;

  describe('transport', () => {
    it('accepts upgrades only on exactly /ws, without a query string', async () => {
      const { connect } = await setup();
      await assert.rejects(connect('/ws?x=1'));
      await assert.rejects(connect('/other'));
      const peer = await connect('/ws');
      assert.equal(peer.ws.readyState, WebSocket.OPEN);
    });

    it('answers anything before hello with no_hello and keeps the socket open', async () => {
      const { connect, member, mesh } = await setup();
      const peer = await connect();
      peer.send({ type: 'list_peers', _reqId: 'r1' });
      assert.deepEqual(await peer.next(), { type: 'error', code: 'no_hello', message: 'must send hello first' });
      peer.send(memberHello(mesh, member('alice')));
      assert.equal((await peer.next()).type, 'hello_ack');
    });

    it('ignores invalid JSON and unknown types without a reply', async () => {
      const { join, member } = await setup();
      const { peer } = await join(member('alice'));
      peer.send('{not json');
      peer.send({ type: 'no_such_type', _reqId: 'x' });
      peer.send({ type: 'list_peers', _reqId: 'sentinel' });
      assert.equal((await peer.next()).type, 'peers_list');
    });

    it('closes the connection with 1009 when a frame exceeds maxPayload', async () => {
      const { join, member } = await setup({ maxPayload: 1024 });
      const { peer } = await join(member('alice'));
      peer.send({ type: 'set_summary', summary: 'x'.repeat(2000) });
      assert.equal((await peer.closed).code, 1009);
    });

    it('terminates a socket that stops answering pings', async () => {
      const { connect } = await setup({ pingIntervalMs: 20, staleMs: 60 });
      const peer = await connect('/ws', { autoPong: false });
      assert.equal((await peer.closed).code, 1006);
    });
  });

  describe('member hello', () => {
    it('acks with presenceId, the hello display name and the member profile', async () => {
      const { join, member } = await setup();
      const alice = member('alice', [{ name: 'dev', role: 'lead' }]);
      const { ack } = await join(alice, { displayName: 'Alice (VS Code)' });
      assert.match(ack.presenceId, /^[0-9A-Za-z]{32}$/);
      assert.deepEqual(ack, {
        type: 'hello_ack',
        presenceId: ack.presenceId,
        memberDisplayName: 'Alice (VS Code)',
        memberProfile: { roleTag: null, groups: [{ name: 'dev', role: 'lead' }], messageMode: 'push' },
      });
    });

    it("falls back to the member's name when hello has no displayName", async () => {
      const { join, member } = await setup();
      assert.equal((await join(member('bob'))).ack.memberDisplayName, 'bob');
    });

    it('tells members of other identities that a peer joined, but not its siblings', async () => {
      const { join, member } = await setup();
      const alice = member('alice');
      const bob = member('bob', [{ name: 'ops' }]);
      const { peer: a } = await join(alice);
      const { peer: b1 } = await join(bob);
      const joined = await a.next();
      assert.deepEqual(
        { type: joined.type, subtype: joined.subtype, event: joined.event, senderPubkey: joined.senderPubkey, priority: joined.priority },
        { type: 'push', subtype: 'system', event: 'peer_joined', senderPubkey: 'system', priority: 'low' },
      );
      assert.deepEqual(joined.eventData, { name: 'bob', pubkey: bob.id.pubkey, groups: [{ name: 'ops' }] });
      await join(bob);
      b1.send({ type: 'list_peers', _reqId: 'sentinel' });
      assert.equal((await b1.next()).type, 'peers_list');
    });

    it('sends no ack when pid is not an integer or cwd is missing', async () => {
      const { connect, member, mesh } = await setup();
      const alice = member('alice');
      const peer = await connect();
      peer.send(memberHello(mesh, alice, { pid: 1.5 }));
      peer.send(memberHello(mesh, alice, { cwd: undefined }));
      peer.send({ type: 'list_peers' });
      assert.deepEqual(await peer.next(), { type: 'error', code: 'no_hello', message: 'must send hello first' });
    });

    describe('rejects, in the sheet order, with the exact code, message and close code', () => {
      const cases: { name: string; code: string; message: string; close: [number, string]; hello: (f: Fixture, m: Member) => Frame }[] = [
        {
          name: 'an uppercase sessionPubkey',
          code: 'bad_session_pubkey',
          message: 'sessionPubkey must be 64 lowercase hex chars',
          close: [1008, 'bad_session_pubkey'],
          hello: (f, m) => memberHello(f.mesh, m, { sessionPubkey: newIdentity().pubkey.toUpperCase() }),
        },
        {
          name: 'a timestamp two minutes old',
          code: 'timestamp_skew',
          message: 'hello rejected: timestamp_skew',
          close: [1008, 'timestamp_skew'],
          hello: (f, m) => memberHello(f.mesh, m, {}, { timestamp: Date.now() - 120_000 }),
        },
        {
          name: 'a signature that is not 128 hex chars',
          code: 'malformed',
          message: 'hello rejected: malformed',
          close: [1008, 'malformed'],
          hello: (f, m) => memberHello(f.mesh, m, { signature: 'abc' }),
        },
        {
          name: 'a signature by another key',
          code: 'bad_signature',
          message: 'hello rejected: bad_signature',
          close: [1008, 'bad_signature'],
          hello: (f, m) => memberHello(f.mesh, m, {}, { signer: newIdentity() }),
        },
        {
          name: 'a revoked member',
          code: 'revoked',
          message: 'You\'ve been removed from "Team Mesh". Contact the mesh owner to rejoin.',
          close: [4002, 'banned'],
          hello: (f, m) => {
            f.broker.revoke(f.mesh.meshId, m.id.pubkey);
            return memberHello(f.mesh, m);
          },
        },
        {
          name: 'a pubkey that is not a member',
          code: 'unauthorized',
          message: 'pubkey not found in mesh',
          close: [1008, 'unauthorized'],
          hello: (f) => {
            const stranger = newIdentity();
            return memberHello(f.mesh, { id: stranger, record: { memberId: 'x'.repeat(32) } as MemberRecord });
          },
        },
      ];
      for (const c of cases) {
        it(`${c.code} for ${c.name}`, async () => {
          const f = await setup();
          const peer = await f.connect();
          peer.send(c.hello(f, f.member('alice')));
          assert.deepEqual(await peer.next(), { type: 'error', code: c.code, message: c.message });
          assert.deepEqual(await peer.closed, { code: c.close[0], reason: c.close[1] });
        });
      }

      it('capacity once the mesh holds maxConnectionsPerMesh connections', async () => {
        const f = await setup({ maxConnectionsPerMesh: 1 });
        await f.join(f.member('alice'));
        const peer = await f.connect();
        peer.send(memberHello(f.mesh, f.member('bob')));
        assert.deepEqual(await peer.next(), { type: 'error', code: 'capacity', message: 'mesh at connection capacity' });
        assert.deepEqual(await peer.closed, { code: 1008, reason: 'capacity' });
      });
    });
  });

  describe('session_hello', () => {
    it('acks with the member profile and lists the session as peerRole "session" under its own key', async () => {
      const { join, joinSession, member } = await setup();
      const alice = member('alice');
      const { peer: a } = await join(alice);
      const session = newIdentity();
      const { ack } = await joinSession(alice, session, { displayName: 'alice-session' });
      assert.deepEqual(ack, {
        type: 'hello_ack',
        presenceId: ack.presenceId,
        memberDisplayName: 'alice-session',
        memberProfile: { roleTag: null, groups: [], messageMode: 'push' },
      });
      // A session's peer_joined also reaches the sibling connections of its own member.
      const joined = await a.next(isEvent('peer_joined'));
      assert.deepEqual(joined.eventData, { name: 'alice-session', pubkey: session.pubkey, groups: [] });
      const { peers } = await a.request({ type: 'list_peers' });
      const row = peers.find((p: Frame) => p.pubkey === session.pubkey);
      assert.equal(row.peerRole, 'session');
      assert.equal(row.memberPubkey, alice.id.pubkey);
    });

    const cases: { name: string; code: string; message: string; close?: [number, string]; hello: (f: Fixture, m: Member, s: Identity) => Frame }[] = [
      {
        name: 'an uppercase session key',
        code: 'bad_session_pubkey',
        message: 'sessionPubkey must be 64 lowercase hex chars',
        hello: (f, m, s) => sessionHello(f.mesh, m, s, { fields: { sessionPubkey: s.pubkey.toUpperCase() } }),
      },
      {
        name: 'an uppercase parent key',
        code: 'bad_parent_pubkey',
        message: 'parentMemberPubkey must be 64 lowercase hex chars',
        hello: (f, m, s) => sessionHello(f.mesh, m, s, { fields: { parentMemberPubkey: m.id.pubkey.toUpperCase() } }),
      },
      {
        name: 'an attestation for another session key',
        code: 'attestation_mismatch',
        message: 'parentAttestation keys must equal sessionPubkey and parentMemberPubkey',
        hello: (f, m, s) => sessionHello(f.mesh, m, s, { attestationFields: { sessionPubkey: newIdentity().pubkey } }),
      },
      {
        name: 'an expired attestation',
        code: 'expired',
        message: 'attestation rejected: expired',
        hello: (f, m, s) => sessionHello(f.mesh, m, s, { expiresAt: Date.now() - 1000 }),
      },
      {
        name: 'an attestation valid for more than 24 h',
        code: 'ttl_too_long',
        message: 'attestation rejected: ttl_too_long',
        hello: (f, m, s) => sessionHello(f.mesh, m, s, { expiresAt: Date.now() + 25 * 3600_000 }),
      },
      {
        name: 'an attestation not signed by the member',
        code: 'bad_signature',
        message: 'attestation rejected: bad_signature',
        hello: (f, m, s) => sessionHello(f.mesh, m, s, { attestationSigner: s }),
      },
      {
        name: 'an attestation signature that is not hex',
        code: 'malformed',
        message: 'attestation rejected: malformed',
        hello: (f, m, s) => sessionHello(f.mesh, m, s, { attestationFields: { signature: 'zz' } }),
      },
      {
        name: 'a hello not signed by the session key',
        code: 'bad_signature',
        message: 'session_hello rejected: bad_signature',
        hello: (f, m, s) => sessionHello(f.mesh, m, s, { signer: m.id }),
      },
      {
        name: 'a stale session timestamp',
        code: 'timestamp_skew',
        message: 'session_hello rejected: timestamp_skew',
        hello: (f, m, s) => sessionHello(f.mesh, m, s, { timestamp: Date.now() - 61_000 }),
      },
      {
        name: 'a parent that is not a member',
        code: 'unauthorized',
        message: 'parent pubkey not found in mesh',
        hello: (f, _m, s) => sessionHello(f.mesh, { id: newIdentity(), record: { memberId: 'y'.repeat(32) } as MemberRecord }, s),
      },
      {
        name: 'a revoked parent',
        code: 'revoked',
        message: 'You\'ve been removed from "Team Mesh". Contact the mesh owner to rejoin.',
        close: [4002, 'banned'],
        hello: (f, m, s) => {
          f.broker.revoke(f.mesh.meshId, m.id.pubkey);
          return sessionHello(f.mesh, m, s);
        },
      },
      {
        name: "a parentMemberId that is not the parent's member id",
        code: 'parent_member_id_mismatch',
        message: 'parentMemberId does not match the member that owns parentMemberPubkey',
        hello: (f, m, s) => sessionHello(f.mesh, m, s, { fields: { parentMemberId: 'z'.repeat(32) } }),
      },
    ];
    for (const c of cases) {
      it(`rejects ${c.name} with ${c.code}`, async () => {
        const f = await setup();
        const peer = await f.connect();
        peer.send(c.hello(f, f.member('alice'), newIdentity()));
        assert.deepEqual(await peer.next(), { type: 'error', code: c.code, message: c.message });
        const [code, reason] = c.close ?? [1008, c.code];
        assert.deepEqual(await peer.closed, { code, reason });
      });
    }

    it('takes over a live connection with the same session key: session_replaced, same presenceId, no peer_joined', async () => {
      const { join, joinSession, member } = await setup();
      const alice = member('alice');
      const { peer: observer } = await join(member('bob'));
      const session = newIdentity();
      const first = await joinSession(alice, session);
      await observer.next(isEvent('peer_joined'));
      const second = await joinSession(alice, session);
      assert.deepEqual(await first.peer.closed, { code: 1000, reason: 'session_replaced' });
      assert.deepEqual(second.ack, { type: 'hello_ack', presenceId: first.ack.presenceId, memberDisplayName: 'alice' });
      second.peer.send({ type: 'set_state', key: 'k', value: 1 });
      assert.equal((await observer.next()).type, 'state_change');
    });
  });

  describe('offline grace', () => {
    it('reattaches a member hello with the same sessionId silently, keeping the presenceId', async () => {
      const { join, member, waitForLog, broker } = await setup({ graceMs: 10_000 });
      const bob = member('bob');
      const { peer: observer } = await join(member('alice'));
      const first = await join(bob);
      await observer.next(isEvent('peer_joined'));
      first.peer.ws.close();
      await waitForLog(new RegExp(`offline grace: bob \\(${first.ack.presenceId}\\)`));
      const again = await join(bob, { sessionId: first.hello.sessionId });
      assert.equal(again.ack.presenceId, first.ack.presenceId);
      assert.equal(again.ack.restored, true);
      again.peer.send({ type: 'set_state', key: 'k', value: 'v' });
      assert.equal((await observer.next()).type, 'state_change');
      assert.equal(broker.connectionCount(), 2);
    });

    it('replaces a live connection with the same sessionId: 1000 session_replaced and a new presence', async () => {
      const { join, member } = await setup();
      const bob = member('bob');
      const first = await join(bob);
      const second = await join(bob, { sessionId: first.hello.sessionId });
      assert.deepEqual(await first.peer.closed, { code: 1000, reason: 'session_replaced' });
      assert.notEqual(second.ack.presenceId, first.ack.presenceId);
    });

    it('keeps a closed connection DM-addressable and delivers its queue when it reattaches', async () => {
      const { join, member, waitForLog } = await setup({ graceMs: 10_000 });
      const bob = member('bob');
      const { peer: alice } = await join(member('alice'));
      const first = await join(bob);
      first.peer.ws.close();
      await waitForLog(/offline grace: bob/);
      alice.send({ type: 'send', id: 'dm-1', targetSpec: bob.id.pubkey, priority: 'next', nonce: 'bm9uY2U=', ciphertext: 'Y2lwaGVy' });
      const ack = await alice.next((f) => f.type === 'ack');
      assert.equal(ack.queued, true);
      const again = await join(bob, { sessionId: first.hello.sessionId });
      const push = await again.peer.next(isPush, 'the queued DM');
      assert.equal(push.messageId, ack.messageId);
    });

    it('announces peer_left to other members once the grace runs out', async () => {
      const { join, member } = await setup({ graceMs: 50 });
      const bob = member('bob');
      const { peer: alice } = await join(member('alice'));
      const { peer: bobSibling } = await join(bob);
      const { peer: leaving } = await join(bob, { displayName: 'bob-laptop' });
      leaving.ws.close();
      const left = await alice.next(isEvent('peer_left'), 'peer_left');
      assert.deepEqual(left.eventData, { name: 'bob-laptop', pubkey: bob.id.pubkey });
      alice.send({ type: 'set_state', key: 'after', value: true });
      assert.equal((await bobSibling.next()).type, 'state_change');
    });
  });

  describe('direct messages', () => {

    it('queues, pushes shape (a), and redelivers after the lease expires until client_ack', async () => {
      const { join, member, mesh } = await setup({ leaseMs: 40, leaseSweepMs: 10 });
      const bob = member('bob');
      const aliceMember = member('alice');
      const { peer: alice } = await join(aliceMember);
      const { peer: b } = await join(bob);

      alice.send({ ...dm(bob.id.pubkey, 'm1', 'next', { client_message_id: 'client-1', request_fingerprint: 'f'.repeat(64) }), _reqId: 'ignored' });
      const ack1 = await alice.next(ackFor('m1'));
      assert.match(ack1.messageId, /^[0-9A-Za-z]{32}$/);
      assert.deepEqual(ack1, { type: 'ack', id: 'm1', messageId: ack1.messageId, queued: true });
      const push1 = await b.next(isPush);
      assert.deepEqual(push1, {
        type: 'push',
        messageId: ack1.messageId,
        meshId: mesh.meshId,
        senderPubkey: aliceMember.id.pubkey,
        priority: 'next',
        nonce: Buffer.from('nonce-m1').toString('base64'),
        ciphertext: Buffer.from('body-m1').toString('base64'),
        createdAt: push1.createdAt,
        client_message_id: 'client-1',
        request_fingerprint: 'f'.repeat(64),
      });

      await delay(120); // past the lease; no client_ack was sent
      alice.send(dm(bob.id.pubkey, 'm2'));
      const ack2 = await alice.next(ackFor('m2'));
      assert.deepEqual([(await b.next(isPush)).messageId, (await b.next(isPush)).messageId], [ack1.messageId, ack2.messageId]);

      b.send({ type: 'client_ack', clientMessageId: 'client-1' });
      b.send({ type: 'client_ack', brokerMessageId: ack2.messageId });
      await delay(120);
      alice.send(dm(bob.id.pubkey, 'm3'));
      const ack3 = await alice.next(ackFor('m3'));
      assert.equal((await b.next(isPush)).messageId, ack3.messageId);
      b.send({ type: 'list_peers', _reqId: 'sentinel' });
      assert.equal((await b.next()).type, 'peers_list');
    });

    it('rejects a DM to a key with no connection, including your own key without another session', async () => {
      const { join, member } = await setup();
      const alice = member('alice');
      const { peer } = await join(alice);
      const error = 'no connected peer for target (not online, or targetSpec is your own key without another session)';
      peer.send(dm(newIdentity().pubkey, 'x1'));
      assert.deepEqual(await peer.next(), { type: 'ack', id: 'x1', messageId: '', queued: false, error });
      peer.send(dm(alice.id.pubkey, 'x2'));
      assert.deepEqual(await peer.next(), { type: 'ack', id: 'x2', messageId: '', queued: false, error });
    });

    it('sends no ack for a bad priority or a missing ciphertext', async () => {
      const { join, member } = await setup();
      const bob = member('bob');
      const { peer } = await join(member('alice'));
      await join(bob);
      await peer.next(isEvent('peer_joined'));
      peer.send(dm(bob.id.pubkey, 'p1', 'urgent'));
      peer.send({ ...dm(bob.id.pubkey, 'p2'), ciphertext: undefined });
      peer.send(dm(bob.id.pubkey, 'p3'));
      assert.equal((await peer.next()).id, 'p3');
    });

    it('holds next/low for a dnd recipient and pushes only now', async () => {
      const { join, member } = await setup();
      const bob = member('bob');
      const { peer: alice } = await join(member('alice'));
      const { peer: b } = await join(bob);
      b.send({ type: 'set_status', status: 'dnd' });
      alice.send(dm(bob.id.pubkey, 'held', 'next'));
      alice.send(dm(bob.id.pubkey, 'urgent', 'now'));
      const held = await alice.next(ackFor('held'));
      const urgent = await alice.next(ackFor('urgent'));
      assert.equal((await b.next(isPush)).messageId, urgent.messageId);
      b.send({ type: 'set_status', status: 'idle' });
      alice.send(dm(bob.id.pubkey, 'later', 'low'));
      const later = await alice.next(ackFor('later'));
      assert.deepEqual([(await b.next(isPush)).messageId, (await b.next(isPush)).messageId], [held.messageId, later.messageId]);
    });

    it('limits sends per member with the exact rate_limit text, shared by all its connections', async () => {
      const { join, member, broker } = await setup({ rateLimit: { burst: 2, perMinute: 30 } });
      const alice = member('alice');
      const { peer: a1 } = await join(alice);
      const { peer: a2 } = await join(alice);
      const broadcast = (id: string) => ({ type: 'send', id, targetSpec: '*', priority: 'next', nonce: 'bg==', ciphertext: 'aGk=' });
      a1.send(broadcast('b1'));
      a2.send(broadcast('b2'));
      assert.equal((await a1.next(ackFor('b1'))).queued, true);
      assert.equal((await a2.next(ackFor('b2'))).queued, true);
      a1.send(broadcast('b3'));
      assert.deepEqual(await a1.next(ackFor('b3')), {
        type: 'ack',
        id: 'b3',
        messageId: '',
        queued: false,
        error: 'rate_limit: max 30 msg/min (burst 2) — slow down',
      });
      assert.equal(broker.stats.rateLimited, 1);
    });
  });

  describe('multicast', () => {
    it('pushes shape (b) to open connections of other members, skipping hidden ones; @group filters by exact name', async () => {
      const { join, member, mesh } = await setup();
      const alice = member('alice', [{ name: 'dev' }]);
      const bob = member('bob', [{ name: 'dev' }]);
      const carol = member('carol');
      const dave = member('dave', [{ name: 'dev' }]);
      const { peer: a } = await join(alice);
      const { peer: aSibling } = await join(alice);
      const { peer: b } = await join(bob);
      const { peer: c } = await join(carol);
      const { peer: d } = await join(dave);
      await d.request({ type: 'set_visible', visible: false });

      a.send({ type: 'send', id: 'all', targetSpec: '*', priority: 'low', nonce: 'bm9uY2U=', ciphertext: 'aGVsbG8gbWVzaA==' });
      const ack = await a.next((f) => f.type === 'ack');
      assert.deepEqual(ack, { type: 'ack', id: 'all', messageId: ack.messageId, queued: true });
      const push = await b.next(isPush);
      assert.deepEqual(push, {
        type: 'push',
        messageId: ack.messageId,
        meshId: mesh.meshId,
        senderPubkey: alice.id.pubkey,
        senderMemberPubkey: alice.id.pubkey,
        senderMemberId: alice.record.memberId,
        senderName: 'alice',
        priority: 'low',
        nonce: 'bm9uY2U=',
        ciphertext: 'aGVsbG8gbWVzaA==',
        createdAt: push.createdAt,
      });
      assert.equal((await c.next(isPush)).messageId, ack.messageId);

      a.send({ type: 'send', id: 'dev', targetSpec: '@dev', priority: 'next', nonce: 'bm9uY2U=', ciphertext: 'ZGV2' });
      const devAck = await a.next((f) => f.type === 'ack');
      assert.equal((await b.next(isPush)).messageId, devAck.messageId);

      a.send({ type: 'set_state', key: 'fence', value: 1 });
      for (const peer of [aSibling, c, d]) assert.equal((await peer.next((f) => f.type !== 'push' || f.subtype === undefined)).type, 'state_change');
    });
  });

  describe('like the real broker (§11)', () => {
    it('handles the frames of one socket concurrently, so replies can overtake each other', async () => {
      const { join, member } = await setup({ frameDelayMs: 20 });
      const { peer } = await join(member('alice'));
      const order: string[] = [];
      const replies = Array.from({ length: 20 }, async (_, i) => {
        await peer.request({ type: 'get_state', key: `k${i}` });
        order.push(`k${i}`);
      });
      await Promise.all(replies);
      assert.notDeepEqual(order, Array.from({ length: 20 }, (_, i) => `k${i}`));
    });

    it('answers a list_peers sent right after a set_status before the status is applied, and drains nothing on it', async () => {
      const { join, member } = await setup({ statusLagMs: 30 });
      const bob = member('bob');
      const { peer: alice } = await join(member('alice'));
      const { peer: b } = await join(bob);
      b.send({ type: 'set_status', status: 'dnd' });
      const { peers } = await b.request({ type: 'list_peers' });
      assert.equal(peers.find((p: Frame) => p.pubkey === bob.id.pubkey).status, 'idle');
      await new Promise((r) => setTimeout(r, 60));
      alice.send(dm(bob.id.pubkey, 'held', 'next'));
      await alice.next(ackFor('held'));
      b.send({ type: 'set_status', status: 'idle' });
      await new Promise((r) => setTimeout(r, 60));
      await b.request({ type: 'list_peers' });
      assert.equal(b.pending().filter(isPush).length, 0);
    });

    it('copies odd hello fields into every peers_list untyped, and fills member-keyed rows from the last connection', async () => {
      const { join, member } = await setup();
      const alice = member('alice');
      const { peer: a1 } = await join(alice, { model: 1, hostname: {} });
      await join(alice, { sessionId: 'second', model: 'opus', hostname: 'box2' });
      const { peers } = await a1.request({ type: 'list_peers' });
      assert.deepEqual(peers.map((p: Frame) => [p.model, p.hostname]), [['opus', 'box2'], ['opus', 'box2']]);
      const { peer: bobPeer } = await join(member('bob'), { model: 1, hostname: {} });
      const listed = await bobPeer.request({ type: 'list_peers' });
      assert.deepEqual([listed.peers[2].model, listed.peers[2].hostname], [1, {}]);
    });

    it('accepts a frame over the limit when told to behave as under Bun, and closes with 1009 by default', async () => {
      const bun = await setup({ enforceMaxPayload: false, maxPayload: 1_000 });
      const { peer } = await bun.join(bun.member('alice'));
      const stored = await peer.request({ type: 'remember', content: 'x'.repeat(5_000) });
      assert.equal(stored.type, 'memory_stored');
      const node = await setup({ maxPayload: 1_000 });
      const { peer: other } = await node.join(node.member('bob'));
      other.send({ type: 'remember', content: 'x'.repeat(5_000) });
      assert.equal((await other.closed).code, 1009);
    });
  });

  describe('requests', () => {
    it('lists peers with the §10 row shape, oldest first, hiding hidden peers from other members', async () => {
      const { join, joinSession, member } = await setup();
      const alice = member('alice', [{ name: 'dev' }]);
      const bob = member('bob');
      const { peer: a, hello } = await join(alice, { displayName: 'Alice', hostname: 'box', peerType: 'human', channel: 'vscode' });
      const session = newIdentity();
      const { peer: s } = await joinSession(bob, session);
      const { peer: bobSibling } = await join(bob);
      s.send({ type: 'set_summary', summary: 'reviewing' });
      await s.request({ type: 'list_peers' }); // the summary is in place once this comes back
      const { peers } = await a.request({ type: 'list_peers' });
      assert.deepEqual(
        peers.map((p: Frame) => p.pubkey),
        [alice.id.pubkey, session.pubkey, bob.id.pubkey],
      );
      assert.deepEqual(peers[0], {
        pubkey: alice.id.pubkey,
        memberPubkey: alice.id.pubkey,
        displayName: 'Alice',
        status: 'idle',
        summary: null,
        groups: [{ name: 'dev' }],
        sessionId: hello.sessionId,
        connectedAt: peers[0].connectedAt,
        cwd: '/work/project',
        peerRole: 'control-plane',
        hostname: 'box',
        peerType: 'human',
        channel: 'vscode',
        visible: true,
      });
      assert.equal(new Date(peers[0].connectedAt).toISOString(), peers[0].connectedAt);
      assert.equal(peers[1].summary, 'reviewing');
      assert.equal(peers[1].peerRole, 'session');
      assert.equal(peers[1].memberPubkey, bob.id.pubkey);


      const hidden = await s.request({ type: 'set_visible', visible: false });
      assert.deepEqual(hidden, { type: 'ack', id: hidden._reqId, messageId: '', queued: false, _reqId: hidden._reqId });
      assert.deepEqual((await a.next(isEvent('peer_hidden'))).eventData, { name: 'bob', pubkey: session.pubkey });
      const forAlice = await a.request({ type: 'list_peers' });
      assert.deepEqual(forAlice.peers.map((p: Frame) => p.pubkey), [alice.id.pubkey, bob.id.pubkey]);
      const forSibling = await bobSibling.request({ type: 'list_peers' });
      assert.equal(forSibling.peers.length, 3);
    });

    it('acks set_profile like set_visible and tells the others profile_updated with the changes', async () => {
      const { join, member } = await setup();
      const { peer: a } = await join(member('alice'));
      const { peer: b } = await join(member('bob'));
      const ack = await a.request({ type: 'set_profile', title: 'Reviewer', capabilities: ['review'] });
      assert.deepEqual(ack, { type: 'ack', id: ack._reqId, messageId: '', queued: false, _reqId: ack._reqId });
      assert.deepEqual((await b.next(isEvent('profile_updated'))).eventData, { title: 'Reviewer', capabilities: ['review'] });
      const { peers } = await b.request({ type: 'list_peers' });
      assert.deepEqual(peers[0].profile, { title: 'Reviewer', capabilities: ['review'] });
    });

    it('sends state_change to every other connection, siblings included, and nothing to the writer', async () => {
      const { join, member } = await setup();
      const alice = member('alice');
      const { peer: writer } = await join(alice);
      const { peer: sibling } = await join(alice);
      const { peer: other } = await join(member('bob'));
      writer.send({ type: 'set_state', key: 'build', value: { ok: true } });
      const change = { type: 'state_change', key: 'build', value: { ok: true }, updatedBy: 'alice' };
      assert.deepEqual(await sibling.next((f) => f.type === 'state_change'), change);
      assert.deepEqual(await other.next((f) => f.type === 'state_change'), change);
      const result = await writer.request({ type: 'get_state', key: 'build' });
      assert.deepEqual(writer.pending().filter((f) => f.type === 'state_change'), []);
      assert.deepEqual(result, { type: 'state_result', key: 'build', value: { ok: true }, updatedBy: 'alice', updatedAt: result.updatedAt, _reqId: result._reqId });
    });

    it('answers a missing state key with value null and empty updatedBy/updatedAt, and lists state sorted by key', async () => {
      const { join, member } = await setup();
      const { peer } = await join(member('alice'));
      const missing = await peer.request({ type: 'get_state', key: 'nope' });
      assert.deepEqual(missing, { type: 'state_result', key: 'nope', value: null, updatedBy: '', updatedAt: '', _reqId: missing._reqId });
      peer.send({ type: 'set_state', key: 'zeta', value: 2 });
      peer.send({ type: 'set_state', key: 'alpha', value: 1 });
      const { entries } = await peer.request({ type: 'list_state' });
      assert.deepEqual(entries.map((e: Frame) => [e.key, e.value, e.updatedBy]), [['alpha', 1, 'alice'], ['zeta', 2, 'alice']]);
    });

    it('remembers, recalls by content words (not tags), and forgets', async () => {
      const { join, member } = await setup();
      const { peer } = await join(member('alice'));
      const stored = await peer.request({ type: 'remember', content: 'The staging deploy uses blue-green switching', tags: ['infra'] });
      assert.deepEqual(stored, { type: 'memory_stored', id: stored.id, _reqId: stored._reqId });
      await peer.request({ type: 'remember', content: 'Lunch is at noon', tags: ['deploy'] });
      const found = await peer.request({ type: 'recall', query: 'deploys to staging' });
      assert.deepEqual(found.memories.map((m: Frame) => [m.id, m.content, m.tags, m.rememberedBy]), [
        [stored.id, 'The staging deploy uses blue-green switching', ['infra'], 'alice'],
      ]);
      assert.deepEqual((await peer.request({ type: 'recall', query: 'the and of' })).memories, []);
      const forgot = await peer.request({ type: 'forget', memoryId: stored.id });
      assert.deepEqual(forgot, { type: 'ack', id: stored.id, messageId: stored.id, queued: false, _reqId: forgot._reqId });
      assert.deepEqual((await peer.request({ type: 'recall', query: 'staging' })).memories, []);
    });

    it('shares, updates, lists, fetches and removes skills by name', async () => {
      const { join, member } = await setup();
      const { peer } = await join(member('alice'));
      const shared = await peer.request({ type: 'share_skill', name: 'review', description: 'Code review', instructions: 'v1', tags: ['Quality'] });
      assert.deepEqual(shared, { type: 'skill_ack', name: 'review', action: 'shared', _reqId: shared._reqId });
      const first = (await peer.request({ type: 'get_skill', name: 'review' })).skill;
      await peer.request({ type: 'share_skill', name: 'review', description: 'Code review', instructions: 'v2' });
      await peer.request({ type: 'share_skill', name: 'deploy', description: 'Ship it', instructions: 'go' });
      const { skill } = await peer.request({ type: 'get_skill', name: 'review' });
      assert.deepEqual(skill, { name: 'review', description: 'Code review', instructions: 'v2', tags: [], author: 'alice', manifest: null, createdAt: first.createdAt });
      assert.equal((await peer.request({ type: 'get_skill', name: 'none' })).skill, null);
      assert.deepEqual((await peer.request({ type: 'list_skills' })).skills.map((s: Frame) => s.name), ['deploy', 'review']);
      assert.deepEqual((await peer.request({ type: 'list_skills', query: 'SHIP' })).skills.map((s: Frame) => s.name), ['deploy']);
      assert.equal((await peer.request({ type: 'remove_skill', name: 'deploy' })).action, 'removed');
      assert.equal((await peer.request({ type: 'remove_skill', name: 'deploy' })).action, 'not_found');
    });

    it('reports message_status for a queued DM and its errors', async () => {
      const { join, member } = await setup();
      const bob = member('bob');
      const { peer: a } = await join(member('alice'));
      const { peer: b } = await join(bob, { displayName: 'Bob' });
      a.send({ type: 'send', id: 'm', targetSpec: bob.id.pubkey, priority: 'next', nonce: 'bg==', ciphertext: 'Yw==' });
      const { messageId } = await a.next((f) => f.type === 'ack');
      await b.next(isPush);
      const held = await a.request({ type: 'message_status', messageId: messageId.slice(0, 10) });
      assert.deepEqual(held, {
        type: 'message_status_result',
        messageId,
        targetSpec: bob.id.pubkey,
        delivered: false,
        deliveredAt: null,
        recipients: [{ name: 'Bob', pubkey: bob.id.pubkey, status: 'held' }],
        _reqId: held._reqId,
      });
      b.send({ type: 'client_ack', brokerMessageId: messageId });
      await b.request({ type: 'list_peers' });
      assert.equal((await a.request({ type: 'message_status', messageId })).delivered, true);
      assert.equal((await a.request({ type: 'message_status', messageId: 'bad!' })).code, 'invalid_argument');
      assert.equal((await a.request({ type: 'message_status', messageId: 'ZZZZZZZZZZ' })).code, 'not_found');
    });

    it('summarises the mesh in mesh_info_result', async () => {
      const { join, member, mesh } = await setup();
      const { peer } = await join(member('alice', [{ name: 'dev' }]));
      peer.send({ type: 'set_state', key: 'k', value: 1 });
      await peer.request({ type: 'remember', content: 'note' });
      const info = await peer.request({ type: 'mesh_info' });
      assert.deepEqual(info, {
        type: 'mesh_info_result',
        mesh: mesh.meshId,
        peers: 1,
        groups: ['@dev'],
        stateKeys: ['k'],
        memoryCount: 1,
        fileCount: 0,
        tasks: { open: 0, claimed: 0, done: 0 },
        streams: [],
        tables: [],
        collections: [],
        yourName: 'alice',
        yourGroups: [{ name: 'dev' }],
        _reqId: info._reqId,
      });
    });
  });

  describe('admin actions and restarts', () => {
    it('revoke sends the revoked error and closes 4002 banned; kick closes 4001', async () => {
      const { join, member, broker, mesh } = await setup();
      const bob = member('bob');
      const carol = member('carol');
      const { peer: b } = await join(bob);
      const { peer: c } = await join(carol);
      broker.revoke(mesh.meshId, bob.id.pubkey);
      assert.deepEqual(await b.next((f) => f.type === 'error'), {
        type: 'error',
        code: 'revoked',
        message: 'You\'ve been removed from "Team Mesh". Contact the mesh owner to rejoin.',
      });
      assert.deepEqual(await b.closed, { code: 4002, reason: 'banned' });
      broker.kick(mesh.meshId, carol.id.pubkey);
      assert.equal((await c.closed).code, 4001);
      assert.equal(broker.connectionCount(mesh.meshId), 0);
    });

    it('keeps the database across stop/start on the same port but forgets live presences', async () => {
      const { join, member, broker, mesh } = await setup({ leaseMs: 30 });
      const bob = member('bob');
      const { peer: a } = await join(member('alice'));
      const { peer: b } = await join(bob);
      a.send({ type: 'set_state', key: 'kept', value: 'yes' });
      a.send({ type: 'send', id: 'dm', targetSpec: bob.id.pubkey, priority: 'next', nonce: 'bg==', ciphertext: 'Yw==' });
      const { messageId } = await a.next((f) => f.type === 'ack');
      await b.next(isPush);
      const port = broker.port;
      await broker.stop();
      assert.equal((await a.closed).code, 1006);
      await broker.start();
      assert.equal(broker.port, port);
      assert.equal(broker.connectionCount(mesh.meshId), 0);
      await delay(60); // the unacked DM's lease runs out
      const again = await join(bob);
      assert.equal((await again.peer.next(isPush)).messageId, messageId);
      assert.equal((await again.peer.request({ type: 'get_state', key: 'kept' })).value, 'yes');
      assert.equal((await again.peer.request({ type: 'list_peers' })).peers.length, 1);
    });
  });

  describe('HTTP join flow', () => {
    async function post(url: string, body: unknown): Promise<{ status: number; json: Frame }> {
      const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, json: (await res.json()) as Frame };
    }
    function decode(token: string): Frame {
      return JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Frame;
    }

    it('resolves a short code, previews the invite, enrolls idempotently and lets the new member hello', async () => {
      const f = await setup();
      const { token, code } = f.broker.createInvite(f.mesh.meshId, { code: 'Ab12Cd34', maxUses: 2 });
      assert.equal(code, 'Ab12Cd34');
      const lookup = await fetch(`${f.broker.httpUrl}/api/public/invite-code/${code}`);
      assert.deepEqual([lookup.status, await lookup.json()], [200, { found: true, token }]);
      const payload = decode(token);
      assert.deepEqual(Object.keys(payload), ['v', 'mesh_id', 'mesh_slug', 'broker_url', 'expires_at', 'mesh_root_key', 'role', 'owner_pubkey', 'signature']);
      assert.equal(payload.broker_url, f.broker.url);
      const canonical = ['v', 'mesh_id', 'mesh_slug', 'broker_url', 'expires_at', 'mesh_root_key', 'role', 'owner_pubkey'].map((k) => payload[k]).join('|');
      assert.ok(nacl.sign.detached.verify(Buffer.from(canonical), Buffer.from(payload.signature, 'hex'), Buffer.from(f.mesh.ownerPubkey, 'hex')));

      const preview = (await (await fetch(`${f.broker.httpUrl}/api/public/invite/${token}`)).json()) as Frame;
      assert.deepEqual(
        [preview.valid, preview.meshName, preview.meshSlug, preview.role, preview.maxUses, preview.usedCount, preview.token],
        [true, 'Team Mesh', 'team-mesh', 'member', 2, 0, token],
      );

      const id = newIdentity();
      const body = { invite_token: token, invite_payload: payload, peer_pubkey: id.pubkey, display_name: 'newcomer' };
      const joined = await post(`${f.broker.httpUrl}/join`, body);
      assert.equal(joined.status, 200);
      assert.deepEqual(joined.json, { ok: true, memberId: joined.json.memberId });
      assert.deepEqual((await post(`${f.broker.httpUrl}/join`, body)).json, { ok: true, memberId: joined.json.memberId, alreadyMember: true });

      const peer = await f.connect();
      peer.send(memberHello(f.mesh, { id, record: { memberId: joined.json.memberId } as MemberRecord }));
      assert.equal((await peer.next()).memberDisplayName, 'newcomer');
    });

    it('refuses tampered, unknown, expired and used-up invites with the sheet error codes', async () => {
      const f = await setup();
      const join = (token: string, payload: Frame = decode(token)) =>
        post(`${f.broker.httpUrl}/join`, { invite_token: token, invite_payload: payload, peer_pubkey: newIdentity().pubkey, display_name: 'x' });
      const once = f.broker.createInvite(f.mesh.meshId, { maxUses: 1 });
      assert.deepEqual((await join(once.token, { ...decode(once.token), role: 'admin' })).json, { ok: false, error: 'invite_bad_signature' });
      assert.equal((await join(once.token)).status, 200);
      assert.deepEqual(await join(once.token), { status: 400, json: { ok: false, error: 'invite_exhausted' } });
      const expired = f.broker.createInvite(f.mesh.meshId, { expiresAt: Math.floor(Date.now() / 1000) - 10 });
      assert.deepEqual((await join(expired.token)).json, { ok: false, error: 'invite_expired' });
      assert.deepEqual((await join('unknown-token', decode(once.token))).json, { ok: false, error: 'invite_not_found' });
      const badKey = await post(`${f.broker.httpUrl}/join`, { invite_token: once.token, invite_payload: decode(once.token), peer_pubkey: 'abc', display_name: 'x' });
      assert.deepEqual(badKey, { status: 400, json: { ok: false, error: 'peer_pubkey must be 64 hex chars (32 bytes)' } });
      const missing = await fetch(`${f.broker.httpUrl}/api/public/invite-code/nope`);
      assert.deepEqual([missing.status, await missing.json()], [404, { found: false }]);
      const exhausted = (await (await fetch(`${f.broker.httpUrl}/api/public/invite/${once.token}`)).json()) as Frame;
      assert.deepEqual(exhausted, { valid: false, reason: 'exhausted' });
    });

    it('answers a body over maxPayload with 413 payload too large', async () => {
      const f = await setup({ maxPayload: 1024 });
      assert.deepEqual(await post(`${f.broker.httpUrl}/join`, { pad: 'x'.repeat(2000) }), { status: 413, json: { ok: false, error: 'payload too large' } });
    });
  });
});
