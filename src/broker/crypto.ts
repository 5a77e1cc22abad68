/**
 * Keys, signatures, message bodies and request fingerprints, byte-compatible with the claudemesh CLI (libsodium).
 * Wire formats: docs/protocol.md §2, §3 and §6, test vectors in §12 (every § below is a section of that page).
 */
import { createHash, createPrivateKey, createPublicKey, diffieHellman, KeyObject, randomFillSync } from 'node:crypto';
import nacl from 'tweetnacl';
import { convertSecretKey } from 'ed2curve';
import { ANY_CASE_PUBLIC_KEY, SIGNATURE } from './keys';

const HEX = /^[0-9a-fA-F]*$/;
const STANDARD_BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export function hexToBytes(hex: string): Uint8Array {
  if (hex.length % 2 !== 0) throw new Error(`hex string has an odd length (${hex.length})`);
  if (!HEX.test(hex)) throw new Error('hex string contains characters other than 0-9 and a-f');
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

export function bytesToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** Node's decoder silently skips bad characters; a hostile body must come out as null, not as garbage. */
function fromBase64Strict(text: string): Uint8Array | null {
  if (!STANDARD_BASE64.test(text) || text.length % 4 === 1) return null;
  return Uint8Array.from(Buffer.from(text, 'base64'));
}

function decodeUtf8Strict(bytes: Uint8Array): string | null {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return null;
  }
}

/** A member or session identity: the libsodium `crypto_sign_keypair` layout, as lowercase hex. */
export function generateKeypair(seed?: Uint8Array): { pubkey: string; secretKey: string } {
  if (seed !== undefined && seed.length !== nacl.sign.seedLength) {
    throw new Error(`a keypair seed must be ${nacl.sign.seedLength} bytes (got ${seed.length})`);
  }
  const pair = seed ? nacl.sign.keyPair.fromSeed(seed) : nacl.sign.keyPair();
  return { pubkey: bytesToHex(pair.publicKey), secretKey: bytesToHex(pair.secretKey) };
}

/** Detached Ed25519 signature over the UTF-8 of `message`, as lowercase hex. */
export function signDetached(message: string, secretKeyHex: string): string {
  const secretKey = hexToBytes(secretKeyHex);
  if (secretKey.length !== nacl.sign.secretKeyLength) {
    throw new Error(`a signing secret key must be ${nacl.sign.secretKeyLength} bytes (got ${secretKey.length})`);
  }
  return bytesToHex(nacl.sign.detached(utf8.encode(message), secretKey));
}

export interface SessionAttestation {
  sessionPubkey: string;
  parentMemberPubkey: string;
  expiresAt: number;
  signature: string;
}

/** The member vouches for a session key until `expiresAtMs` (the broker caps this at now + 24 h). */
export function mintAttestation(memberPubkey: string, memberSecretKey: string, sessionPubkey: string, expiresAtMs: number): SessionAttestation {
  const message = `claudemesh-session-attest|${memberPubkey}|${sessionPubkey}|${expiresAtMs}`;
  return { sessionPubkey, parentMemberPubkey: memberPubkey, expiresAt: expiresAtMs, signature: signDetached(message, memberSecretKey) };
}

export function signSessionHello(meshId: string, parentPubkey: string, sessionPubkey: string, sessionSecretKey: string, timestamp: number): string {
  return signDetached(`claudemesh-session-hello|${meshId}|${parentPubkey}|${sessionPubkey}|${timestamp}`, sessionSecretKey);
}

export function verifyDetached(message: string, signatureHex: string, pubkeyHex: string): boolean {
  if (typeof message !== 'string' || typeof signatureHex !== 'string' || typeof pubkeyHex !== 'string') return false;
  if (!SIGNATURE.test(signatureHex) || !ANY_CASE_PUBLIC_KEY.test(pubkeyHex)) return false;
  try {
    return nacl.sign.detached.verify(utf8.encode(message), hexToBytes(signatureHex), hexToBytes(pubkeyHex));
  } catch {
    return false;
  }
}

export function edPublicToCurve(pubkeyHex: string): Uint8Array {
  if (!ANY_CASE_PUBLIC_KEY.test(pubkeyHex)) throw new Error('an Ed25519 public key must be 64 hex characters');
  const curve = edwardsToMontgomery(hexToBytes(pubkeyHex));
  if (!curve) throw new Error(`${pubkeyHex} is not a valid Ed25519 public key`);
  return curve;
}

/** The field of Curve25519/Ed25519, for the one conversion below. */
const P = (1n << 255n) - 19n;
/** Ed25519's d = -121665/121666 mod p. */
const D = 37095705934669439343138083508754565189542113879843219016388785533085940283555n;

function modPow(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  for (let b = base % P, e = exponent; e > 0n; e >>= 1n, b = (b * b) % P) if (e & 1n) result = (result * b) % P;
  return result;
}

/** Inverse mod p by extended Euclid; 0 maps to 0, as the field inversion of tweetnacl (and so of ed2curve) does. */
function modInverse(a: bigint): bigint {
  let [r0, r1, s0, s1] = [P, ((a % P) + P) % P, 0n, 1n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1, s0, s1] = [r1, r0 - q * r1, s1, s0 - q * s1];
  }
  return ((s0 % P) + P) % P;
}

/**
 * ed2curve's convertPublicKey, byte for byte (test/broker/crypto.test.ts compares them): null unless the bytes decode
 * to a curve point (x² = (y² − 1)/(d·y² + 1) has a root), else u = (1 + y)/(1 − y). ed2curve does this in pure-JS field
 * arithmetic, about 1.5 ms a key, a cost paid for every new peer; Node's BigInt does it in a fraction of that.
 */
function edwardsToMontgomery(pk: Uint8Array): Uint8Array | null {
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(i === 31 ? pk[i] & 0x7f : pk[i]);
  y %= P;
  const y2 = (y * y) % P;
  const x2 = (((y2 - 1n + P) % P) * modInverse((D * y2 + 1n) % P)) % P;
  if (x2 !== 0n && modPow(x2, (P - 1n) / 2n) !== 1n) return null;
  let u = ((1n + y) * modInverse(1n - y + P)) % P;
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++, u >>= 8n) out[i] = Number(u & 0xffn);
  return out;
}

export function edSecretToCurve(secretKeyHex: string): Uint8Array {
  const secretKey = hexToBytes(secretKeyHex);
  if (secretKey.length !== nacl.sign.secretKeyLength) {
    throw new Error(`an Ed25519 secret key must be ${nacl.sign.secretKeyLength} bytes (got ${secretKey.length})`);
  }
  return convertSecretKey(secretKey);
}

/** DER prefixes that wrap a raw 32-byte X25519 key for Node's KeyObject (RFC 8410). */
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');
const SIGMA = utf8.encode('expand 32-byte k');
const { crypto_core_hsalsa20: hsalsaInto } = (
  nacl as unknown as { lowlevel: { crypto_core_hsalsa20: (out: Uint8Array, input: Uint8Array, key: Uint8Array, constant: Uint8Array) => void } }
).lowlevel;

function hsalsa(shared: Uint8Array): Uint8Array {
  const key = new Uint8Array(32);
  hsalsaInto(key, new Uint8Array(16), shared, SIGMA);
  return key;
}

/**
 * Whether this runtime's X25519 (OpenSSL in Node, BoringSSL in VS Code's Electron) gives tweetnacl's shared key:
 * checked once on a fixed pair, so a runtime without it, or with a different answer, keeps using tweetnacl.
 */
const NATIVE_X25519 = ((): boolean => {
  try {
    const a = convertSecretKey(nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(7)).secretKey);
    const b = nacl.box.keyPair.fromSecretKey(convertSecretKey(nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(9)).secretKey)).publicKey;
    const privateKey = createPrivateKey({ key: Buffer.concat([X25519_PKCS8, a]), format: 'der', type: 'pkcs8' });
    const publicKey = createPublicKey({ key: Buffer.concat([X25519_SPKI, b]), format: 'der', type: 'spki' });
    return Buffer.from(hsalsa(diffieHellman({ privateKey, publicKey }))).equals(Buffer.from(nacl.box.before(b, a)));
  } catch {
    return false;
  }
})();

/**
 * X25519 shared keys between one of our secrets and each peer. The scalar multiplication in
 * `box.before` is the expensive part of a DM, so it runs once per peer; least recently used peers are
 * evicted so a busy mesh cannot grow the cache without bound.
 */
export class SharedKeyCache {
  private readonly ownCurveSecret: Uint8Array;
  private readonly byPeer = new Map<string, Uint8Array>();
  private newest: string | undefined;

  private nativeSecret: KeyObject | undefined;
  /** Shared keys computed so far (not served from the cache). */
  derivations = 0;

  constructor(ownSecretKeyHex: string, private readonly limit = 4096) {
    this.ownCurveSecret = edSecretToCurve(ownSecretKeyHex);
  }

  /** `nacl.box.before`: X25519, then HSalsa20 of the result. Node's X25519 where it works, tweetnacl's otherwise. */
  private derive(peerCurve: Uint8Array): Uint8Array {
    if (NATIVE_X25519) {
      try {
        this.nativeSecret ??= createPrivateKey({ key: Buffer.concat([X25519_PKCS8, this.ownCurveSecret]), format: 'der', type: 'pkcs8' });
        const publicKey = createPublicKey({ key: Buffer.concat([X25519_SPKI, peerCurve]), format: 'der', type: 'spki' });
        return hsalsa(diffieHellman({ privateKey: this.nativeSecret, publicKey }));
      } catch {
        // OpenSSL refuses a low-order peer point (an all-zero result), which tweetnacl computes; do as the CLI does.
      }
    }
    return nacl.box.before(peerCurve, this.ownCurveSecret);
  }

  shared(peerPubkeyHex: string): Uint8Array {
    const peer = peerPubkeyHex.toLowerCase();
    const cached = this.byPeer.get(peer);
    if (cached) {
      // Re-insert to mark it most recently used (Map keeps insertion order); a chat with one peer skips this.
      if (peer !== this.newest) {
        this.byPeer.delete(peer);
        this.byPeer.set(peer, cached);
        this.newest = peer;
      }
      return cached;
    }
    const key = this.derive(edPublicToCurve(peer));
    this.derivations++;
    this.byPeer.set(peer, key);
    this.newest = peer;
    if (this.byPeer.size > this.limit) {
      const oldest = this.byPeer.keys().next().value as string;
      this.byPeer.delete(oldest);
    }
    return key;
  }
}

export interface WireBody {
  nonce: string;
  ciphertext: string;
}

const NONCES_PER_FILL = 1024;
let noncePool = new Uint8Array(0);
let nonceOffset = 0;

/**
 * A fresh random nonce. One CSPRNG call per message cost more than the encryption itself, so nonces are cut from a
 * pool filled 1,024 at a time; every nonce is a distinct slice of CSPRNG output and the pool is never refilled in place.
 */
export function randomNonce(): Uint8Array {
  if (nonceOffset + nacl.box.nonceLength > noncePool.length) {
    noncePool = randomFillSync(new Uint8Array(nacl.box.nonceLength * NONCES_PER_FILL));
    nonceOffset = 0;
  }
  return noncePool.slice(nonceOffset, (nonceOffset += nacl.box.nonceLength));
}

function checkNonce(nonce: Uint8Array): Uint8Array {
  if (nonce.length !== nacl.box.nonceLength) throw new Error(`a nonce must be ${nacl.box.nonceLength} bytes (got ${nonce.length})`);
  return nonce;
}

/** tweetnacl's typings leave out `lowlevel`; this is the one function used from it. */
const { crypto_secretbox: secretboxInto } = (
  nacl as unknown as { lowlevel: { crypto_secretbox: (box: Uint8Array, padded: Uint8Array, length: number, nonce: Uint8Array, key: Uint8Array) => number } }
).lowlevel;
/** crypto_secretbox's layout: the message follows 32 zero bytes in, and the box starts with 16 zero bytes out. */
const ZERO_BYTES = 32;
const BOX_ZERO_BYTES = 16;
/** Scratch buffers for sealing, reused by every call: encryptDirect never yields. Bigger messages get their own. */
const SCRATCH_BYTES = 64 * 1024;
const scratchPadded = Buffer.alloc(SCRATCH_BYTES);
const scratchBoxed = Buffer.alloc(SCRATCH_BYTES);

/** `keys` must hold the secret of the key the broker reports as our `senderPubkey` (§6). */
export function encryptDirect(text: string, recipientPubkeyHex: string, keys: SharedKeyCache, nonce = randomNonce()): WireBody {
  checkNonce(nonce);
  const key = keys.shared(recipientPubkeyHex);
  // The same bytes as nacl.box.after(utf8(text)), without its two allocations and byte-by-byte copy per message:
  // the text is encoded straight into a zero-padded buffer.
  const length = ZERO_BYTES + Buffer.byteLength(text, 'utf8');
  const fits = length <= SCRATCH_BYTES;
  const padded = fits ? scratchPadded : Buffer.alloc(length);
  const boxed = fits ? scratchBoxed : Buffer.alloc(length);
  padded.write(text, ZERO_BYTES, 'utf8');
  secretboxInto(boxed, padded, length, nonce, key);
  padded.fill(0, ZERO_BYTES, length); // the plaintext does not linger in the scratch buffer
  return { nonce: toBase64(nonce), ciphertext: boxed.toString('base64', BOX_ZERO_BYTES, length) };
}

/** Broadcast, group and topic bodies travel as plain base64 over WS (§6); the nonce is ignored by receivers. */
export function encodeMulticast(text: string, nonce = randomNonce()): WireBody {
  return { nonce: toBase64(checkNonce(nonce)), ciphertext: toBase64(utf8.encode(text)) };
}

export interface DecryptedBody {
  /** null = undecryptable: neither key opened it and it is not valid base64 UTF-8. */
  text: string | null;
  kind: 'direct' | 'multicast';
}

function openWith(keys: SharedKeyCache | undefined, sender: string, nonce: Uint8Array, sealed: Uint8Array): Uint8Array | null {
  if (!keys) return null;
  try {
    return nacl.box.open.after(sealed, nonce, keys.shared(sender));
  } catch {
    return null;
  }
}

/** The receiver's order from §6: session secret, member secret, then the plain base64 path. */
export function decryptInbound(
  push: { senderPubkey: string; nonce: string; ciphertext: string; senderMemberPubkey?: string; senderName?: string },
  keys: { session?: SharedKeyCache; member: SharedKeyCache },
): DecryptedBody {
  const sender = typeof push?.senderPubkey === 'string' ? push.senderPubkey : '';
  const nonceText = typeof push?.nonce === 'string' ? push.nonce : '';
  const sealed = typeof push?.ciphertext === 'string' ? fromBase64Strict(push.ciphertext) : null;
  if (!sealed) return { text: null, kind: 'multicast' };
  // Only the live multicast push names its sender's member (§4b): read it as plain text first, without two box opens
  // that must fail. Should a broker ever name the member on a DM too, its sealed bytes are not UTF-8 and fall through.
  if (push.senderMemberPubkey || push.senderName) {
    const plain = decodeUtf8Strict(sealed);
    if (plain !== null) return { text: plain, kind: 'multicast' };
  }

  const nonce = nonceText ? fromBase64Strict(nonceText) : null;
  if (nonce && nonce.length === nacl.box.nonceLength && ANY_CASE_PUBLIC_KEY.test(sender) && sealed.length >= nacl.box.overheadLength) {
    const opened = openWith(keys.session, sender, nonce, sealed) ?? openWith(keys.member, sender, nonce, sealed);
    if (opened) return { text: decodeUtf8Strict(opened), kind: 'direct' };
  }
  return { text: decodeUtf8Strict(sealed), kind: 'multicast' };
}

export type DestinationKind = 'dm' | 'topic';

/** Classifies the raw `to` the user typed, before any name resolution (§6). */
export function destinationOf(to: string): { destinationKind: DestinationKind; destinationRef: string } {
  if (to === '*') return { destinationKind: 'topic', destinationRef: '*' };
  if (to.startsWith('@')) return { destinationKind: 'topic', destinationRef: to.slice(1) };
  return { destinationKind: 'dm', destinationRef: to };
}

function sortKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (value !== null && typeof value === 'object') {
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) sorted[key] = sortKeysDeep((value as Record<string, unknown>)[key]);
    return sorted;
  }
  return value;
}

function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeysDeep(value));
}

/** The CLI's `request_fingerprint` (§6): nobody verifies it, but matching it keeps our rows comparable. */
export function requestFingerprint(parts: {
  destinationKind: DestinationKind;
  destinationRef: string;
  replyToId?: string;
  priority: string;
  meta?: unknown;
  body: string;
}): string {
  // The CLI treats any falsy meta as absent; match it so fingerprints agree.
  const fields = ['1', parts.destinationKind, parts.destinationRef, parts.replyToId ?? '', parts.priority, parts.meta ? canonicalJson(parts.meta) : ''];
  // Each field followed by a NUL byte, then the body's digest: one update per part keeps this cheap per message.
  const bodyDigest = createHash('sha256').update(parts.body, 'utf8').digest();
  return createHash('sha256').update(fields.join('\0') + '\0', 'utf8').update(bodyDigest).digest('hex');
}
