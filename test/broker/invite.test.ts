import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeypair } from '../../src/broker/crypto';
import {
  InviteError,
  acceptInvite,
  brokerHttpBase,
  createInviteToken,
  decodeInviteToken,
  parseInviteLink,
  resolveShortCode,
  verifyInvite,
  type InvitePayload,
} from '../../src/broker/invite';

const owner = generateKeypair(new Uint8Array(32).fill(9));
const joiner = generateKeypair(new Uint8Array(32).fill(10));
const NOW = Date.UTC(2025, 0, 1);
const MESH_ID = 'Q'.repeat(31) + '7';
const MEMBER_ID = 'm'.repeat(31) + '3';

function inviteFields(overrides: Partial<InvitePayload> = {}): Omit<InvitePayload, 'signature'> {
  return {
    v: 1,
    mesh_id: MESH_ID,
    mesh_slug: 'team',
    broker_url: 'wss://ic.example.com/ws',
    expires_at: NOW / 1000 + 3600,
    mesh_root_key: 'cm9vdC1rZXk',
    role: 'member',
    owner_pubkey: owner.pubkey,
    ...overrides,
  };
}

/** Re-encodes a payload without re-signing it, as a forger would. */
function encodeUnsigned(payload: unknown): string {
  return Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
}

function assertInviteError(code: string, pattern?: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof InviteError, String(error));
    assert.equal(error.code, code, error.message);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

/** A fetch that records calls and fails the test if the code under test ever reaches the network. */
function forbiddenFetch(): { fetchImpl: typeof fetch; calls: string[] } {
  const calls: string[] = [];
  const fetchImpl = (async (url: string | URL | Request) => {
    calls.push(String(url));
    throw new Error('no network in this test');
  }) as typeof fetch;
  return { fetchImpl, calls };
}

describe('invite', () => {
  const token = createInviteToken(inviteFields(), owner.secretKey);

  describe('parseInviteLink', () => {
    const valid: [string, ReturnType<typeof parseInviteLink>][] = [
      ['https://claudemesh.com/i/Ab12Cd34', { kind: 'code', code: 'Ab12Cd34', base: 'https://claudemesh.com' }],
      ['  https://claudemesh.com/es/i/Ab12Cd34/ \n', { kind: 'code', code: 'Ab12Cd34', base: 'https://claudemesh.com' }],
      ['http://127.0.0.1:8080/i/abcdef', { kind: 'code', code: 'abcdef', base: 'http://127.0.0.1:8080' }],
      ['Ab12Cd34', { kind: 'code', code: 'Ab12Cd34', base: 'https://claudemesh.com' }],
      [`https://claudemesh.com/join/${token}`, { kind: 'token', token }],
      [`https://claudemesh.com/fr/join/${token}`, { kind: 'token', token }],
      [`ic://join/${token}`, { kind: 'token', token }],
      [token, { kind: 'token', token }],
    ];
    for (const [input, expected] of valid) {
      it(`reads ${JSON.stringify(input.length > 60 ? input.slice(0, 57) + '...' : input)} as a ${expected.kind}`, () => {
        assert.deepEqual(parseInviteLink(input), expected);
      });
    }

    const malformed = [
      '',
      '   ',
      'hello world',
      'abc',
      'Ab12Cd34Ab12Cd34X',
      'https://claudemesh.com/x/Ab12Cd34',
      'https://claudemesh.com/abc/i/Ab12Cd34',
      'https://claudemesh.com/i/ab',
      'https://claudemesh.com/i/Ab12Cd34/extra',
      'https://claudemesh.com/join/not%20a%20token',
      'ftp://claudemesh.com/i/Ab12Cd34',
      'ic://join/',
      'ic://join/not a token!',
    ];
    for (const input of malformed) {
      it(`rejects ${JSON.stringify(input)} with an example of a valid link`, () => {
        assert.throws(() => parseInviteLink(input), assertInviteError('malformed_link', /https:\/\/claudemesh\.com\/i\//));
      });
    }

    it('looks short codes up over https only, except on this machine', () => {
      assert.throws(() => parseInviteLink('http://claudemesh.com/i/Ab12Cd34'), assertInviteError('insecure_link', /must start with https:\/\//));
      assert.deepEqual(parseInviteLink('http://localhost:9/i/abcdef'), { kind: 'code', code: 'abcdef', base: 'http://localhost:9' });
      assert.deepEqual(parseInviteLink('http://[::1]:9/i/abcdef'), { kind: 'code', code: 'abcdef', base: 'http://[::1]:9' });
    });

    it('never repeats the pasted text, which may hold a whole invite token', () => {
      for (const input of [`https://claudemesh.com/x/${token}`, `https://[${token}/i/x`]) {
        assert.throws(() => parseInviteLink(input), (error: Error) => !error.message.includes(token.slice(0, 20)));
      }
    });
  });

  describe('decodeInviteToken', () => {
    it('returns the signed payload', () => {
      assert.deepEqual(decodeInviteToken(token), { ...inviteFields(), signature: decodeInviteToken(token).signature });
      assert.match(decodeInviteToken(token).signature, /^[0-9a-f]{128}$/);
    });

    it('rejects tokens that are not base64url JSON objects', () => {
      for (const bad of ['!!!', encodeUnsigned('text'), Buffer.from('not json').toString('base64url'), Buffer.from([0xff, 0xfe]).toString('base64url')]) {
        assert.throws(() => decodeInviteToken(bad), assertInviteError('malformed', /damaged/));
      }
    });

    it('rejects a version 2 invite as unsupported', () => {
      assert.throws(() => decodeInviteToken(encodeUnsigned({ ...decodeInviteToken(token), v: 2 })), assertInviteError('unsupported_version', /only version 1/));
    });

    it('names the fields with the wrong type', () => {
      const broken = encodeUnsigned({ ...decodeInviteToken(token), role: 'owner', expires_at: '1700000000' });
      assert.throws(() => decodeInviteToken(broken), assertInviteError('malformed', /Bad or missing: expires_at, role\./));
    });
  });

  describe('verifyInvite', () => {
    it('accepts a correctly signed invite that has not expired', () => {
      verifyInvite(decodeInviteToken(token), NOW);
    });

    it('rejects a payload changed after signing', () => {
      const forged = { ...decodeInviteToken(token), role: 'admin' as const };
      assert.throws(() => verifyInvite(forged, NOW), assertInviteError('bad_signature', /altered/));
    });

    it('rejects an invite whose expiry (unix seconds) has passed', () => {
      const payload = decodeInviteToken(token);
      assert.throws(() => verifyInvite(payload, payload.expires_at * 1000), assertInviteError('expired', /expired on 2025-01-01T01:00:00\.000Z/));
    });

    it('rejects a signed invite with a broker URL that does not end in /ws', () => {
      const payload = decodeInviteToken(createInviteToken(inviteFields({ broker_url: 'wss://ic.example.com/' }), owner.secretKey));
      assert.throws(() => verifyInvite(payload, NOW), assertInviteError('malformed', /must end in exactly "\/ws"/));
    });
  });

  describe('brokerHttpBase', () => {
    it('maps the WebSocket URL to the HTTP origin of the same host', () => {
      assert.equal(brokerHttpBase('wss://ic.claudemesh.com/ws'), 'https://ic.claudemesh.com');
      assert.equal(brokerHttpBase('ws://127.0.0.1:7900/ws'), 'http://127.0.0.1:7900');
    });

    it('refuses a URL that is not ws or wss', () => {
      assert.throws(() => brokerHttpBase('https://x/ws'), assertInviteError('malformed'));
    });
  });

  describe('acceptInvite before enrolment', () => {
    it('rejects a forged invite without any network request', async () => {
      const { fetchImpl, calls } = forbiddenFetch();
      const forged = encodeUnsigned({ ...decodeInviteToken(token), mesh_slug: 'other-team' });
      await assert.rejects(acceptInvite(`ic://join/${forged}`, { displayName: 'Ada', now: () => NOW, fetchImpl }), assertInviteError('bad_signature'));
      assert.deepEqual(calls, []);
    });

    it('rejects an expired invite without any network request', async () => {
      const { fetchImpl, calls } = forbiddenFetch();
      const expired = createInviteToken(inviteFields({ expires_at: NOW / 1000 - 1 }), owner.secretKey);
      await assert.rejects(acceptInvite(expired, { displayName: 'Ada', now: () => NOW, fetchImpl }), assertInviteError('expired'));
      assert.deepEqual(calls, []);
    });

    it('asks for a display name before enrolling', async () => {
      const { fetchImpl, calls } = forbiddenFetch();
      await assert.rejects(acceptInvite(token, { displayName: '  ', now: () => NOW, fetchImpl }), assertInviteError('invalid_display_name'));
      assert.deepEqual(calls, []);
    });
  });

  describe('acceptInvite against a local broker', () => {
    let server: http.Server;
    let origin: string;
    let localToken: string;
    let requests: { method: string; url: string; body: unknown }[];
    let joinReply: { status: number; body: unknown };

    before(async () => {
      server = http.createServer((request, response) => {
        let text = '';
        request.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        request.on('end', () => {
          requests.push({ method: request.method ?? '', url: request.url ?? '', body: text ? JSON.parse(text) : undefined });
          const reply = (status: number, body: unknown) => {
            response.writeHead(status, { 'content-type': 'application/json' });
            response.end(JSON.stringify(body));
          };
          if (request.method === 'GET' && request.url === '/api/public/invite-code/GoodCode1') reply(200, { found: true, token: localToken });
          else if (request.method === 'GET' && request.url?.startsWith('/api/public/invite-code/')) reply(404, { found: false });
          else if (request.method === 'POST' && request.url === '/join') reply(joinReply.status, joinReply.body);
          else reply(404, { error: 'no route' });
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      localToken = createInviteToken(inviteFields({ broker_url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws` }), owner.secretKey);
    });

    beforeEach(() => {
      requests = [];
      joinReply = { status: 200, body: { ok: true, memberId: MEMBER_ID } };
    });

    after(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it('resolves the short code, enrols the new key and returns the mesh to save', async () => {
      const steps: string[] = [];
      const mesh = await acceptInvite(`${origin}/i/GoodCode1`, { displayName: ' Ada ', now: () => NOW, keypair: joiner, onProgress: (step) => steps.push(step) });

      assert.deepEqual(mesh, {
        meshId: MESH_ID,
        memberId: MEMBER_ID,
        slug: 'team',
        name: 'team',
        pubkey: joiner.pubkey,
        secretKey: joiner.secretKey,
        brokerUrl: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`,
        joinedAt: new Date(NOW).toISOString(),
        rootKey: 'cm9vdC1rZXk',
        inviteVersion: 1,
      });
      assert.deepEqual(requests, [
        { method: 'GET', url: '/api/public/invite-code/GoodCode1', body: undefined },
        {
          method: 'POST',
          url: '/join',
          body: { invite_token: localToken, invite_payload: decodeInviteToken(localToken), peer_pubkey: joiner.pubkey, display_name: 'Ada' },
        },
      ]);
      assert.equal(steps.length, 3);
    });

    it('generates a fresh keypair when none is given', async () => {
      const mesh = await acceptInvite(localToken, { displayName: 'Ada', now: () => NOW });
      assert.notEqual(mesh.pubkey, joiner.pubkey);
      assert.equal(mesh.secretKey.slice(64), mesh.pubkey);
      assert.equal((requests[0].body as { peer_pubkey: string }).peer_pubkey, mesh.pubkey);
    });

    it('turns a 400 refusal into a sentence for the user', async () => {
      joinReply = { status: 400, body: { ok: false, error: 'invite_exhausted' } };
      await assert.rejects(acceptInvite(localToken, { displayName: 'Ada', now: () => NOW }), assertInviteError('invite_exhausted', /used as many times as it allows/));
    });

    it('passes an unknown refusal through verbatim', async () => {
      joinReply = { status: 400, body: { ok: false, error: 'peer_pubkey must be 64 hex chars (32 bytes)' } };
      await assert.rejects(acceptInvite(localToken, { displayName: 'Ada', now: () => NOW }), assertInviteError('join_refused', /refused to enrol you: peer_pubkey must be 64 hex/));
    });

    it('reports a broker failure without a JSON body', async () => {
      joinReply = { status: 500, body: 'boom' };
      await assert.rejects(acceptInvite(localToken, { displayName: 'Ada', now: () => NOW }), assertInviteError('server', /HTTP 500/));
    });

    it('reports an unknown short code as not found', async () => {
      await assert.rejects(resolveShortCode('Missing99', origin), assertInviteError('not_found', /Missing99 was not found/));
    });

    it('reports an unreachable broker as a network problem', async () => {
      const closed = http.createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const unreachable = createInviteToken(inviteFields({ broker_url: `ws://127.0.0.1:${port}/ws` }), owner.secretKey);
      await assert.rejects(acceptInvite(unreachable, { displayName: 'Ada', now: () => NOW }), assertInviteError('network', /Could not reach http:\/\/127\.0\.0\.1:\d+ while enrolling you/));
    });

    it('gives up on a server that never answers, with a message that says so', async () => {
      const silent = http.createServer(() => undefined);
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const port = (silent.address() as AddressInfo).port;
      try {
        const token = createInviteToken(inviteFields({ broker_url: `ws://127.0.0.1:${port}/ws` }), owner.secretKey);
        await assert.rejects(acceptInvite(token, { displayName: 'Ada', now: () => NOW, timeoutMs: 200 }), assertInviteError('timeout', /did not answer within 200 ms while enrolling you/));
        await assert.rejects(resolveShortCode('GoodCode1', `http://127.0.0.1:${port}`, fetch, 1000), assertInviteError('timeout', /did not answer within 1 s while looking up invite code GoodCode1/));
      } finally {
        silent.closeAllConnections();
        await new Promise<void>((resolve) => silent.close(() => resolve()));
      }
    });

    it('refuses a mesh that is already joined before enrolling anything, naming where it is joined', async () => {
      const seen: string[] = [];
      await assert.rejects(
        acceptInvite(`${origin}/i/GoodCode1`, { displayName: 'Ada', now: () => NOW, alreadyJoined: (meshId) => (seen.push(meshId), 'it is in the claudemesh config') }),
        assertInviteError('already_joined', /already joined the mesh "team" \(it is in the claudemesh config\)/),
      );
      assert.deepEqual(seen, [MESH_ID]);
      assert.deepEqual(requests.map((r) => r.url), ['/api/public/invite-code/GoodCode1'], 'no /join');
    });
  });
});
