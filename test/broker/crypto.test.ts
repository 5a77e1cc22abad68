import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { convertPublicKey } from 'ed2curve';
import nacl from 'tweetnacl';
import {
  SharedKeyCache,
  bytesToHex,
  decryptInbound,
  destinationOf,
  edPublicToCurve,
  edSecretToCurve,
  encodeMulticast,
  encryptDirect,
  generateKeypair,
  hexToBytes,
  mintAttestation,
  requestFingerprint,
  signDetached,
  signSessionHello,
  verifyDetached,
} from '../../src/broker/crypto';

// Vectors from docs/protocol.md §12 (libsodium 0.7.15).
const A_PK = '8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c';
const B_PK = '8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394';
const HELLO_SIG =
  'b256368a009e4546cdc332042f0e04ad2fe43970ef304ba3f3ca7074c41083e13b10614449cbb381283e4797940b6705efb2901bbd73fc25cce4e6b97471a401';
const ATTEST_SIG =
  'd6237c82ab2a8bebc9d2e7ba83f8e89e629888b7cc12406a0f3dd10c4bd83699338b032262f85cb1e4aea3c367726ec89c1e0f2541e37775bedb50fd6a3a8409';
const SESSION_HELLO_SIG =
  'd71349016255e4b2bd15c473d1097884747322b3d8637a63d910f2820d225adb5ab57f7e22b4fcc1dc002509de3c4e17d3a1bab741a395e49095a0f04994d402';
/** The member hello's signed string: `meshId|memberId|pubkey|timestamp`. */
const MEMBER_HELLO = `meshAAAA|memberBBBB|${A_PK}|1700000000000`;
const DM_NONCE = 'AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMD';
const DM_CIPHERTEXT = 'pjuvDCmjc2DxICEUtH0zhnwd/8kWVT6HH80=';

const keyA = generateKeypair(new Uint8Array(32).fill(1));
const keyB = generateKeypair(new Uint8Array(32).fill(2));

describe('crypto', () => {
  describe('hex helpers', () => {
    it('round-trips bytes through lowercase hex', () => {
      assert.equal(bytesToHex(Uint8Array.from([0, 15, 171, 255])), '000fabff');
      assert.deepEqual(hexToBytes('000FabfF'), Uint8Array.from([0, 15, 171, 255]));
    });

    it('rejects hex of odd length or with non-hex characters', () => {
      assert.throws(() => hexToBytes('abc'), /odd length/);
      assert.throws(() => hexToBytes('zz'), /0-9 and a-f/);
    });
  });

  describe('the test vectors (docs/protocol.md §12)', () => {
    it('derives keys A and B from their seeds', () => {
      assert.equal(keyA.pubkey, A_PK);
      assert.equal(keyA.secretKey, '01'.repeat(32) + A_PK);
      assert.equal(keyB.pubkey, B_PK);
      assert.equal(keyB.secretKey, '02'.repeat(32) + B_PK);
    });

    it('signs the member hello string exactly like libsodium', () => {
      assert.equal(signDetached(MEMBER_HELLO, keyA.secretKey), HELLO_SIG);
      assert.ok(verifyDetached(MEMBER_HELLO, HELLO_SIG, A_PK));
    });

    it('converts Ed25519 keys to the expected X25519 keys', () => {
      assert.equal(bytesToHex(edPublicToCurve(B_PK)), '60346e7c911a5f6ba154129174cafe75b294ac3bbd5549632f48cec6266f8410');
      assert.equal(bytesToHex(edSecretToCurve(keyA.secretKey)), '58e86efb75fa4e2c410f46e16de9f6acae1a1703528651b69bc176c088bef36e');
    });

    it('encrypts the A→B DM to the exact wire bytes, and B opens it', () => {
      const body = encryptDirect('hello mesh', B_PK, new SharedKeyCache(keyA.secretKey), new Uint8Array(24).fill(3));
      assert.deepEqual(body, { nonce: DM_NONCE, ciphertext: DM_CIPHERTEXT });
      assert.equal(Buffer.from(body.ciphertext, 'base64').length, 26);

      const opened = decryptInbound({ senderPubkey: A_PK, ...body }, { member: new SharedKeyCache(keyB.secretKey) });
      assert.deepEqual(opened, { text: 'hello mesh', kind: 'direct' });
    });

    it('encodes a broadcast as plain base64 with a random 24-byte nonce', () => {
      const body = encodeMulticast('hello mesh');
      assert.equal(body.ciphertext, 'aGVsbG8gbWVzaA==');
      assert.equal(Buffer.from(body.nonce, 'base64').length, 24);
      assert.notEqual(encodeMulticast('hello mesh').nonce, body.nonce);
    });

    it('mints the attestation in which A vouches for B', () => {
      const attestation = mintAttestation(A_PK, keyA.secretKey, B_PK, 1700043200000);
      assert.deepEqual(attestation, { sessionPubkey: B_PK, parentMemberPubkey: A_PK, expiresAt: 1700043200000, signature: ATTEST_SIG });
      assert.ok(verifyDetached(`claudemesh-session-attest|${A_PK}|${B_PK}|1700043200000`, ATTEST_SIG, A_PK));
    });

    it('signs the session hello with B', () => {
      assert.equal(signSessionHello('meshAAAA', A_PK, B_PK, keyB.secretKey, 1700000000000), SESSION_HELLO_SIG);
      assert.ok(verifyDetached(`claudemesh-session-hello|meshAAAA|${A_PK}|${B_PK}|1700000000000`, SESSION_HELLO_SIG, B_PK));
    });
  });

  describe('verifyDetached', () => {
    const message = MEMBER_HELLO;

    it('accepts an uppercase signature', () => {
      assert.ok(verifyDetached(message, HELLO_SIG.toUpperCase(), A_PK));
    });

    it('rejects a changed message, the wrong key and malformed input without throwing', () => {
      assert.equal(verifyDetached(message + '1', HELLO_SIG, A_PK), false);
      assert.equal(verifyDetached(message, HELLO_SIG, B_PK), false);
      assert.equal(verifyDetached(message, HELLO_SIG.slice(2), A_PK), false);
      assert.equal(verifyDetached(message, 'zz' + HELLO_SIG.slice(2), A_PK), false);
      assert.equal(verifyDetached(message, HELLO_SIG, 'not a key'), false);
      assert.equal(verifyDetached(undefined as unknown as string, HELLO_SIG, A_PK), false);
    });
  });

  describe('key generation', () => {
    it('makes a fresh lowercase keypair whose secret ends with its pubkey', () => {
      const pair = generateKeypair();
      assert.match(pair.pubkey, /^[0-9a-f]{64}$/);
      assert.match(pair.secretKey, /^[0-9a-f]{128}$/);
      assert.equal(pair.secretKey.slice(64), pair.pubkey);
      assert.notEqual(generateKeypair().pubkey, pair.pubkey);
    });

    it('refuses a seed that is not 32 bytes', () => {
      assert.throws(() => generateKeypair(new Uint8Array(31)), /32 bytes/);
    });

    it('refuses to convert a public key that is not a curve point', () => {
      // y = 2 is not on the Ed25519 curve.
      assert.throws(() => edPublicToCurve('02' + '00'.repeat(31)), /not a valid Ed25519 public key/);
    });
  });

  describe('SharedKeyCache', () => {
    it('computes the shared key once per peer and reuses it', () => {
      const keys = new SharedKeyCache(keyA.secretKey);
      encryptDirect('one', B_PK, keys);
      encryptDirect('two', B_PK, keys);
      encryptDirect('three', B_PK.toUpperCase(), keys);
      assert.equal(keys.derivations, 1);
    });

    it('forgets the least recently used peer when full', () => {
      const keys = new SharedKeyCache(keyA.secretKey, 2);
      const keyC = generateKeypair(new Uint8Array(32).fill(4)).pubkey;
      keys.shared(A_PK);
      keys.shared(B_PK);
      keys.shared(A_PK); // A is now the most recent; B is the oldest
      keys.shared(keyC); // evicts B
      keys.shared(A_PK); // still cached
      keys.shared(B_PK); // recomputed
      assert.equal(keys.derivations, 4);
    });

    it('computes the same shared key as nacl.box.before of ed2curve\'s conversion, for any peer key', () => {
      const keys = new SharedKeyCache(keyA.secretKey);
      const own = edSecretToCurve(keyA.secretKey);
      for (let i = 0; i < 200; i++) {
        const peer = generateKeypair().pubkey;
        const expected = nacl.box.before(convertPublicKey(hexToBytes(peer))!, own);
        assert.equal(bytesToHex(keys.shared(peer)), bytesToHex(expected), peer);
      }
      // A low-order point (y = -1 gives u = 0): OpenSSL refuses it, tweetnacl (and so the CLI) computes a key.
      const lowOrder = 'ec' + 'ff'.repeat(30) + '7f';
      assert.equal(bytesToHex(keys.shared(lowOrder)), bytesToHex(nacl.box.before(convertPublicKey(hexToBytes(lowOrder))!, own)));
    });
  });

  describe('edPublicToCurve', () => {
    it('agrees with ed2curve on random bytes, valid points or not, either sign bit', () => {
      let valid = 0;
      for (let i = 0; i < 2_000; i++) {
        const bytes = randomBytes(32);
        const expected = convertPublicKey(bytes);
        let actual: Uint8Array | null = null;
        try {
          actual = edPublicToCurve(bytes.toString('hex'));
        } catch {
          // ed2curve's null
        }
        assert.equal(actual && bytesToHex(actual), expected && bytesToHex(expected), bytes.toString('hex'));
        if (expected) valid++;
      }
      assert.ok(valid > 500 && valid < 1_500, `about half of random encodings are points (${valid})`);
    });

    it('agrees with ed2curve at the edges: y = 0, 1, -1, and y at or above p', () => {
      for (const hex of ['00'.repeat(32), '01' + '00'.repeat(31), 'ec' + 'ff'.repeat(30) + '7f', 'ed' + 'ff'.repeat(30) + '7f', 'ee' + 'ff'.repeat(30) + '7f', 'ff'.repeat(32)]) {
        const expected = convertPublicKey(hexToBytes(hex));
        let actual: Uint8Array | null = null;
        try {
          actual = edPublicToCurve(hex);
        } catch {
          // ed2curve's null
        }
        assert.equal(actual && bytesToHex(actual), expected && bytesToHex(expected), hex);
      }
    });
  });

  describe('decryptInbound', () => {
    const member = new SharedKeyCache(keyB.secretKey);

    it('reads a broadcast body as base64 UTF-8', () => {
      const body = encodeMulticast('héllo ✓');
      assert.deepEqual(decryptInbound({ senderPubkey: A_PK, ...body }, { member }), { text: 'héllo ✓', kind: 'multicast' });
    });

    it('takes the base64 path for an empty or malformed nonce or a sender that is not a hex key', () => {
      const sealed = encryptDirect('secret', B_PK, new SharedKeyCache(keyA.secretKey));
      const noNonce = decryptInbound({ senderPubkey: A_PK, nonce: '', ciphertext: 'aGk=' }, { member });
      assert.deepEqual(noNonce, { text: 'hi', kind: 'multicast' });
      const system = decryptInbound({ senderPubkey: 'system', nonce: sealed.nonce, ciphertext: 'aGk=' }, { member });
      assert.deepEqual(system, { text: 'hi', kind: 'multicast' });
      const badNonce = decryptInbound({ senderPubkey: A_PK, nonce: 'A', ciphertext: 'aGk=' }, { member });
      assert.deepEqual(badNonce, { text: 'hi', kind: 'multicast' });
    });

    it('reads a push shaped as a broadcast (it names the member) without trying either key, and still opens a DM shaped so', () => {
      let opens = 0;
      class CountingCache extends SharedKeyCache {
        override shared(pubkey: string): Uint8Array {
          opens++;
          return super.shared(pubkey);
        }
      }
      const counting = new CountingCache(keyB.secretKey);
      const broadcast = { senderPubkey: A_PK, senderMemberPubkey: A_PK, senderName: 'Alice', ...encodeMulticast('to everyone') };
      assert.deepEqual(decryptInbound(broadcast, { member: counting }), { text: 'to everyone', kind: 'multicast' });
      assert.equal(opens, 0);
      const dm = { senderPubkey: A_PK, senderMemberPubkey: A_PK, ...encryptDirect('only you', B_PK, new SharedKeyCache(keyA.secretKey)) };
      assert.deepEqual(decryptInbound(dm, { member: counting }), { text: 'only you', kind: 'direct' });
    });

    it('tries the session key before the member key', () => {
      const sessionKey = generateKeypair(new Uint8Array(32).fill(5));
      const tried: string[] = [];
      class RecordingCache extends SharedKeyCache {
        constructor(secretKey: string, private readonly label: string) {
          super(secretKey);
        }
        override shared(peer: string): Uint8Array {
          tried.push(this.label);
          return super.shared(peer);
        }
      }
      const keys = { session: new RecordingCache(sessionKey.secretKey, 'session'), member: new RecordingCache(keyB.secretKey, 'member') };
      const fromA = new SharedKeyCache(keyA.secretKey);

      const toSession = decryptInbound({ senderPubkey: A_PK, ...encryptDirect('to session', sessionKey.pubkey, fromA) }, keys);
      assert.deepEqual(toSession, { text: 'to session', kind: 'direct' });
      assert.deepEqual(tried, ['session']);

      tried.length = 0;
      const toMember = decryptInbound({ senderPubkey: A_PK, ...encryptDirect('to member', B_PK, fromA) }, keys);
      assert.deepEqual(toMember, { text: 'to member', kind: 'direct' });
      assert.deepEqual(tried, ['session', 'member']);
    });

    it('returns null, not garbage, for a DM sealed to somebody else', () => {
      const stranger = generateKeypair(new Uint8Array(32).fill(6));
      const body = encryptDirect('not for you, and long enough to be binary noise', stranger.pubkey, new SharedKeyCache(keyA.secretKey));
      assert.deepEqual(decryptInbound({ senderPubkey: A_PK, ...body }, { member }), { text: null, kind: 'multicast' });
    });

    it('returns null for invalid UTF-8 and for garbage base64', () => {
      assert.deepEqual(decryptInbound({ senderPubkey: A_PK, nonce: '', ciphertext: '//4=' }, { member }), { text: null, kind: 'multicast' });
      assert.deepEqual(decryptInbound({ senderPubkey: A_PK, nonce: '', ciphertext: '%%% not base64 %%%' }, { member }), { text: null, kind: 'multicast' });
    });

    it('survives hostile and missing fields without throwing', () => {
      const cases: [unknown, string | null][] = [
        [{ senderPubkey: A_PK, nonce: DM_NONCE, ciphertext: 'AAAA' }, '\0\0\0'], // too short to be sealed: plain base64
        [{ senderPubkey: 'ff'.repeat(32), nonce: DM_NONCE, ciphertext: DM_CIPHERTEXT }, null],
        [{ senderPubkey: A_PK, nonce: 'short', ciphertext: DM_CIPHERTEXT }, null],
        [{ senderPubkey: '', nonce: '', ciphertext: '' }, ''],
        [{ senderPubkey: 42, nonce: null, ciphertext: {} }, null],
        [{}, null],
        [null, null],
      ];
      for (const [push, text] of cases) {
        const result = decryptInbound(push as { senderPubkey: string; nonce: string; ciphertext: string }, { member });
        assert.deepEqual(result, { text, kind: 'multicast' }, JSON.stringify(push));
      }
    });
  });

  describe('request fingerprints (docs/protocol.md §6)', () => {
    it('matches the DM vector', () => {
      const fingerprint = requestFingerprint({ ...destinationOf('alice'), priority: 'next', body: 'hello mesh' });
      assert.equal(fingerprint, '006fa754c0b36a6e438552fdb7d426b19a92706257a69843fa1d422d6077ad41');
    });

    it('matches the broadcast vector with canonical meta', () => {
      const fingerprint = requestFingerprint({ ...destinationOf('*'), priority: 'now', meta: { b: 1, a: [{ z: 1, y: 2 }] }, body: 'hi' });
      assert.equal(fingerprint, 'b9f89f1e25c99f5855b6c2b27c0b04bafab48d8ab18ff399984b66c78e00860f');
    });

    it('changes when the reply id changes', () => {
      const base = { ...destinationOf('alice'), priority: 'next', body: 'hello mesh' };
      assert.notEqual(requestFingerprint({ ...base, replyToId: 'm1' }), requestFingerprint(base));
    });

    it('classifies destinations from the raw target', () => {
      assert.deepEqual(destinationOf('@dev'), { destinationKind: 'topic', destinationRef: 'dev' });
      assert.deepEqual(destinationOf('*'), { destinationKind: 'topic', destinationRef: '*' });
      assert.deepEqual(destinationOf('#abc'), { destinationKind: 'dm', destinationRef: '#abc' });
      assert.deepEqual(destinationOf('Alice'), { destinationKind: 'dm', destinationRef: 'Alice' });
    });
  });
});
