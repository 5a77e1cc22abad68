import * as assert from 'node:assert/strict';
import { BrokerError, classifySendError, closeFailure, correlationId, helloFailure, parseFrame } from '../../src/broker/protocol';

/** A small deterministic PRNG so a failing fuzz case can be replayed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

const HOSTILE_VALUES: unknown[] = [
  null, true, 0, -1, 1e308, NaN, '', 'x'.repeat(10_000), '\u0000', '__proto__', [], [null], {}, { toString: 1 },
  { __proto__: { polluted: true } }, '<script>alert(1)</script>', '[Open](command:workbench.action.quit)',
];
const TYPES = ['hello_ack', 'error', 'ack', 'push', 'state_change', 'peers_list', 'state_result', 'state_list', 'memory_stored',
  'memory_results', 'skill_ack', 'skill_data', 'skill_list', 'message_status_result', 'mesh_info_result', 'topic_list_response', 'nope'];
const FIELDS = ['_reqId', 'id', 'messageId', 'peers', 'entries', 'memories', 'skills', 'skill', 'key', 'value', 'subtype', 'event',
  'eventData', 'ciphertext', 'nonce', 'senderPubkey', 'presenceId', 'code', 'message', 'queued', 'error', 'recipients', 'client_message_id'];

function randomValue(rand: () => number, depth = 0): unknown {
  const r = rand();
  if (depth > 2 || r < 0.4) return HOSTILE_VALUES[Math.floor(rand() * HOSTILE_VALUES.length)];
  if (r < 0.7) return Array.from({ length: Math.floor(rand() * 4) }, () => randomValue(rand, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(rand() * 6); i > 0; i--) o[FIELDS[Math.floor(rand() * FIELDS.length)]] = randomValue(rand, depth + 1);
  return o;
}

describe('frame parser', () => {
  it('turns a queued DM push into a typed message with its client_message_id', () => {
    const result = parseFrame(JSON.stringify({
      type: 'push', messageId: 'm1', meshId: 'mesh', senderPubkey: 'ab', priority: 'now', nonce: 'n', ciphertext: 'c', createdAt: 't', client_message_id: 'c1',
    }));
    assert.ok(result.ok);
    assert.deepEqual(result.frame, {
      type: 'push',
      push: { kind: 'message', messageId: 'm1', meshId: 'mesh', senderPubkey: 'ab', priority: 'now', nonce: 'n', ciphertext: 'c', createdAt: 't', clientMessageId: 'c1' },
    });
  });

  it('turns a system push into a presence event', () => {
    const result = parseFrame(JSON.stringify({ type: 'push', subtype: 'system', event: 'peer_joined', eventData: { name: 'Ann', pubkey: 'k' }, messageId: 'u', nonce: '', ciphertext: '' }));
    assert.ok(result.ok && result.frame.type === 'push' && result.frame.push.kind === 'system');
    assert.equal(result.frame.push.event, 'peer_joined');
  });

  it('reads a not-found state_result (value null, updatedAt "") as no entry', () => {
    const result = parseFrame('{"type":"state_result","key":"k","value":null,"updatedBy":"","updatedAt":"","_reqId":"r1"}');
    assert.ok(result.ok);
    assert.deepEqual(result.frame, { type: 'state_result', entry: undefined, reqId: 'r1' });
  });

  it('keeps peerRole and memberPubkey from peers_list rows', () => {
    const result = parseFrame(JSON.stringify({ type: 'peers_list', _reqId: 'r', peers: [{ pubkey: 'p', memberPubkey: 'm', displayName: 'Bo', status: 'dnd', summary: null, groups: [{ name: 'ops' }], sessionId: 's', connectedAt: 'c', cwd: '/', peerRole: 'control-plane' }] }));
    assert.ok(result.ok && result.frame.type === 'peers_list');
    assert.equal(result.frame.peers[0].peerRole, 'control-plane');
    assert.equal(result.frame.peers[0].memberPubkey, 'm');
    assert.equal(result.frame.peers[0].status, 'dnd');
  });

  it('correlates send acks by id, RPC replies by _reqId, and topic errors by id', () => {
    const ack = parseFrame('{"type":"ack","id":"r7","messageId":"x","queued":true}');
    const reply = parseFrame('{"type":"memory_stored","id":"mem1","_reqId":"r8"}');
    const topicError = parseFrame('{"type":"error","code":"topic_not_found","message":"topic \\"x\\" not found","id":"r9"}');
    assert.ok(ack.ok && reply.ok && topicError.ok);
    assert.equal(correlationId(ack.frame), 'r7');
    assert.equal(correlationId(reply.frame), 'r8');
    assert.equal(correlationId(topicError.frame), 'r9');
  });

  it('rejects non-JSON, non-object and ill-typed frames with a reason instead of throwing', () => {
    for (const bad of ['', 'not json', '[]', '42', 'null', '{"no":"type"}', '{"type":"push"}', '{"type":"peers_list","peers":{}}', '{"type":"hello_ack"}']) {
      const result = parseFrame(bad);
      assert.equal(result.ok, false, bad);
      assert.ok(!result.ok && result.reason.length > 0);
    }
  });

  it('survives thousands of random and hostile frames without throwing', () => {
    const rand = prng(42);
    let accepted = 0;
    for (let i = 0; i < 5_000; i++) {
      const frame = randomValue(rand) as Record<string, unknown>;
      if (frame && typeof frame === 'object' && !Array.isArray(frame) && rand() < 0.9) frame.type = TYPES[Math.floor(rand() * TYPES.length)];
      let text = JSON.stringify(frame) ?? 'undefined';
      if (rand() < 0.1) text = text.slice(0, Math.floor(rand() * text.length));
      const result = parseFrame(rand() < 0.05 ? Buffer.from(text) : text);
      if (result.ok) accepted++;
    }
    assert.ok(accepted > 0, 'some random frames should parse');
    assert.equal(Object.prototype.hasOwnProperty.call({}, 'polluted'), false);
  });
});

describe('lenient parsing of lists and pushes', () => {
  const validPeer = (i: number) => ({ pubkey: String(i).padStart(64, '0'), memberPubkey: 'm', displayName: `P${i}`, status: 'idle', summary: null, groups: [], sessionId: 's', connectedAt: 'c', cwd: '/', peerRole: 'session' });

  it('keeps every valid row of peers_list among random odd ones, drops bad optional fields, and keeps the _reqId', () => {
    const rand = prng(12);
    const odd = (v: unknown) => ({ ...validPeer(9_999), [['model', 'hostname', 'channel', 'peerType', 'summary', 'groups', 'profile', 'status', 'visible'][Math.floor(rand() * 9)]]: v });
    for (let round = 0; round < 200; round++) {
      const rows: unknown[] = [];
      const expected: string[] = [];
      let skipped = 0;
      for (let i = 0; i < 12; i++) {
        const r = rand();
        const value = HOSTILE_VALUES[Math.floor(rand() * HOSTILE_VALUES.length)];
        if (r < 0.5) {
          rows.push(validPeer(i));
          expected.push(`P${i}`);
        } else if (r < 0.8) {
          // An odd optional field: the row stays, without it.
          rows.push({ ...odd(typeof value === 'string' ? 7 : value), displayName: `O${i}` });
          expected.push(`O${i}`);
        } else {
          // A required field missing or of the wrong type: only this row goes.
          const broken: Record<string, unknown> = { ...validPeer(i) };
          broken[['pubkey', 'displayName', 'peerRole'][Math.floor(rand() * 3)]] = typeof value === 'string' ? 5 : value;
          rows.push(rand() < 0.2 ? value : broken);
          skipped++;
        }
      }
      const result = parseFrame(JSON.stringify({ type: 'peers_list', _reqId: `r${round}`, peers: rows }));
      assert.ok(result.ok, `round ${round}`);
      assert.ok(result.frame.type === 'peers_list');
      assert.equal(result.frame.reqId, `r${round}`);
      assert.deepEqual(result.frame.peers.map((p) => p.displayName), expected);
      for (const p of result.frame.peers) {
        for (const key of ['model', 'hostname', 'channel', 'peerType'] as const) assert.ok(p[key] === undefined || typeof p[key] === 'string');
        assert.ok(p.summary === null || typeof p.summary === 'string');
        assert.ok(['idle', 'working', 'dnd'].includes(p.status));
      }
      assert.equal(result.notes.filter((n) => n.level === 'warn').length, skipped);
    }
  });

  it('keeps the valid memories, skills and state entries of a list with broken rows', () => {
    const memories = parseFrame(JSON.stringify({ type: 'memory_results', _reqId: 'a', memories: [{ id: 'm1', content: 'ok', tags: ['x', 3] }, { id: 2, content: 'bad' }, null, { id: 'm3', content: 'ok too', rememberedBy: {} }] }));
    assert.ok(memories.ok && memories.frame.type === 'memory_results');
    assert.deepEqual(memories.frame.memories.map((m) => [m.id, m.tags, m.rememberedBy]), [['m1', ['x'], ''], ['m3', [], '']]);
    const skills = parseFrame(JSON.stringify({ type: 'skill_list', _reqId: 'b', skills: [{ name: 'deploy', description: 7 }, { description: 'no name' }] }));
    assert.ok(skills.ok && skills.frame.type === 'skill_list');
    assert.deepEqual(skills.frame.skills.map((x) => [x.name, x.description]), [['deploy', '']]);
    const state = parseFrame(JSON.stringify({ type: 'state_list', _reqId: 'c', entries: [{ key: 'k', value: 1 }, { key: 1, value: 2 }] }));
    assert.ok(state.ok && state.frame.type === 'state_list');
    assert.deepEqual(state.frame.entries.map((e) => e.key), ['k']);
  });

  it('drops an odd senderName from a multicast push and keeps the message', () => {
    const result = parseFrame(JSON.stringify({ type: 'push', messageId: 'm', ciphertext: 'aGk=', senderName: { evil: 1 }, priority: 'urgent' }));
    assert.ok(result.ok && result.frame.type === 'push' && result.frame.push.kind === 'message');
    assert.equal(result.frame.push.senderName, undefined);
    assert.equal(result.frame.push.priority, 'next');
    assert.ok(result.notes.some((n) => n.level === 'debug' && n.text.includes('senderName')));
  });

  it('reads a webhook push as a webhook with its name and data, not as an empty broadcast', () => {
    const result = parseFrame(JSON.stringify({ type: 'push', subtype: 'webhook', event: 'ci', eventData: { build: 42 }, senderPubkey: 'webhook:ci', messageId: 'w1', nonce: '', ciphertext: '', createdAt: 't' }));
    assert.ok(result.ok && result.frame.type === 'push');
    assert.deepEqual(result.frame.push, { kind: 'webhook', event: 'ci', data: { build: 42 }, messageId: 'w1', createdAt: 't' });
  });

  it('keeps the request id of a reply whose body is unusable, so the request fails at once', () => {
    const result = parseFrame(JSON.stringify({ type: 'memory_stored', _reqId: 'r5', id: 42 }));
    assert.ok(!result.ok);
    assert.equal(result.reqId, 'r5');
    const ack = parseFrame(JSON.stringify({ type: 'hello_ack', id: 'r6' }));
    assert.ok(!ack.ok && ack.reqId === 'r6');
  });
});

describe('error classification', () => {
  it('treats the exact broker ack errors by meaning', () => {
    assert.equal(classifySendError('rate_limit: max 60 msg/min (burst 10) \u2014 slow down'), 'rate_limit');
    assert.equal(classifySendError('payload too large: 70000 bytes > MAX_MESSAGE_BYTES=65536'), 'permanent');
    assert.equal(classifySendError('blocked by recipient grants (sender lacks dm capability)'), 'permanent');
    assert.equal(classifySendError('no connected peer for target (not online, or targetSpec is your own key without another session)'), 'no_peer');
    assert.equal(classifySendError('something new'), 'transient');
  });

  it('stops retrying on identity failures and kicks, slows down on clock skew and capacity', () => {
    for (const code of ['revoked', 'unauthorized', 'bad_signature', 'malformed', 'bad_parent_pubkey', 'attestation_mismatch', 'parent_member_id_mismatch', 'session_replaced']) {
      assert.equal(helloFailure(code, 'm').kind, 'terminal', code);
    }
    assert.equal(helloFailure(undefined, '', 4001).kind, 'terminal');
    assert.equal(helloFailure(undefined, '', 4002).kind, 'terminal');
    const skew = helloFailure('timestamp_skew', 'hello rejected: timestamp_skew');
    assert.equal(skew.kind, 'slow');
    assert.match(skew.reason, /clock/);
    assert.equal(helloFailure('capacity', 'mesh at connection capacity').kind, 'slow');
    assert.equal(helloFailure(undefined, '', 1006).kind, 'retry');
  });

  it('gives every failed request one kind: not sent, lost, timed out, refused by the broker, or a bad reply', () => {
    const errors = (['not_connected', 'write_failed', 'too_large', 'disconnected', 'timeout', 'bad_reply', 'unexpected_reply'] as const).map((code) => new BrokerError(code, 'm'));
    assert.deepEqual(errors.map((e) => e.kind), ['not_sent', 'not_sent', 'not_sent', 'lost', 'timeout', 'bad_reply', 'bad_reply']);
    // A timed-out request may have been acted on, and so may one with a bad reply: those count as attempts.
    assert.deepEqual(errors.map((e) => e.isDisconnect), [true, true, true, true, false, false, false]);
    // A broker error is refused whatever its code says, even one that looks like ours.
    const refused = BrokerError.refused('timeout', 'the broker said timeout');
    assert.equal(refused.kind, 'refused');
    assert.equal(refused.code, 'timeout');
    assert.equal(refused.isDisconnect, false);
  });

  it('names a terminal close by the error sent before it, else kicked or revoked by close code; a take-over by its close reason', () => {
    const failed = (told: { code?: string; message: string } | undefined, closeCode: number, reason = '') => {
      const failure = closeFailure(told, closeCode, reason);
      return failure.kind === 'terminal' ? failure.code : failure.kind;
    };
    assert.equal(failed({ code: 'revoked', message: 'You have been removed' }, 4002), 'revoked');
    assert.equal(failed(undefined, 4002, 'banned'), 'revoked');
    assert.equal(failed(undefined, 4001, 'kicked'), 'kicked');
    assert.equal(failed(undefined, 1000, 'session_replaced'), 'session_replaced');
    assert.equal(failed({ code: 'unauthorized', message: 'pubkey not found in mesh' }, 1008), 'unauthorized');
    assert.equal(failed(undefined, 1006), 'retry');
    assert.equal(failed({ code: 'capacity', message: 'mesh at connection capacity' }, 1008), 'slow');
  });
});
