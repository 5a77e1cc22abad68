/**
 * Small building blocks of the local broker: ids, key checks, Ed25519 verification (tweetnacl, independent of
 * the client's src/broker/crypto.ts on purpose) and the v1 invite token. Wire rules: docs/protocol.md §2, §3, §9.
 */
import { randomBytes } from 'node:crypto';
import nacl from 'tweetnacl';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Uniform base62 string (rejection sampling keeps every character equally likely). */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += BASE62[byte % 62];
    }
  }
  return out;
}

/** The broker's routing keys are exact-match lowercase hex (§3). */
export const LOWER_HEX_64 = /^[0-9a-f]{64}$/;

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export type SignatureCheck = 'ok' | 'malformed' | 'bad_signature';

/** Detached Ed25519 over the UTF-8 bytes of `message`; the broker accepts either hex case (§2). */
export function verifyHexSignature(message: string, signatureHex: unknown, pubkeyHex: unknown): SignatureCheck {
  if (typeof pubkeyHex !== 'string' || !/^[0-9a-f]{64}$/i.test(pubkeyHex)) return 'malformed';
  if (typeof signatureHex !== 'string' || !/^[0-9a-f]{128}$/i.test(signatureHex)) return 'malformed';
  try {
    const valid = nacl.sign.detached.verify(
      Buffer.from(message, 'utf8'),
      Buffer.from(signatureHex, 'hex'),
      Buffer.from(pubkeyHex, 'hex'),
    );
    return valid ? 'ok' : 'bad_signature';
  } catch {
    return 'malformed';
  }
}

export function signHex(message: string, secretKeyHex: string): string {
  return Buffer.from(nacl.sign.detached(Buffer.from(message, 'utf8'), Buffer.from(secretKeyHex, 'hex'))).toString('hex');
}

/** ±skew around now; a non-numeric timestamp counts as skewed (§3). */
export function isFreshTimestamp(timestamp: unknown, now: number, skewMs: number): boolean {
  const ms = typeof timestamp === 'number' || typeof timestamp === 'string' ? Number(timestamp) : NaN;
  return Number.isFinite(ms) && Math.abs(now - ms) <= skewMs;
}

export type HelloCheck = 'ok' | 'timestamp_skew' | SignatureCheck;

/** Member hello: `meshId|memberId|pubkey|timestamp` signed by the member key (§3). */
export function checkHelloSignature(hello: Record<string, unknown>, now: number, skewMs: number): HelloCheck {
  if (!isFreshTimestamp(hello.timestamp, now, skewMs)) return 'timestamp_skew';
  const signed = `${hello.meshId}|${hello.memberId}|${hello.pubkey}|${hello.timestamp}`;
  return verifyHexSignature(signed, hello.signature, hello.pubkey);
}

export const MAX_ATTESTATION_TTL_MS = 24 * 60 * 60 * 1000;

export type AttestationCheck = 'ok' | 'expired' | 'ttl_too_long' | SignatureCheck;

/** Parent attestation: `claudemesh-session-attest|<parent>|<session>|<expiresAtMs>` by the member key (§3). */
export function checkAttestation(attestation: Record<string, unknown>, now: number): AttestationCheck {
  const expiresAt = typeof attestation.expiresAt === 'number' ? attestation.expiresAt : NaN;
  if (!Number.isFinite(expiresAt)) return 'malformed';
  if (expiresAt <= now) return 'expired';
  if (expiresAt > now + MAX_ATTESTATION_TTL_MS) return 'ttl_too_long';
  const signed = `claudemesh-session-attest|${attestation.parentMemberPubkey}|${attestation.sessionPubkey}|${expiresAt}`;
  return verifyHexSignature(signed, attestation.signature, attestation.parentMemberPubkey);
}

/** Session hello: `claudemesh-session-hello|<meshId>|<parent>|<session>|<tsMs>` by the session key (§3). */
export function checkSessionHelloSignature(hello: Record<string, unknown>, now: number, skewMs: number): HelloCheck {
  if (!isFreshTimestamp(hello.timestamp, now, skewMs)) return 'timestamp_skew';
  const signed = `claudemesh-session-hello|${hello.meshId}|${hello.parentMemberPubkey}|${hello.sessionPubkey}|${hello.timestamp}`;
  return verifyHexSignature(signed, hello.signature, hello.sessionPubkey);
}

export interface InvitePayload {
  v: 1;
  mesh_id: string;
  mesh_slug: string;
  broker_url: string;
  /** Unix seconds. */
  expires_at: number;
  mesh_root_key: string;
  role: 'admin' | 'member';
  owner_pubkey: string;
  signature: string;
}

export function canonicalInvite(p: Record<string, unknown>): string {
  return [p.v, p.mesh_id, p.mesh_slug, p.broker_url, p.expires_at, p.mesh_root_key, p.role, p.owner_pubkey].join('|');
}

/** Unpadded base64url of the signed payload JSON (§9). */
export function encodeInviteToken(unsigned: Omit<InvitePayload, 'signature'>, ownerSecretKeyHex: string): string {
  const payload: InvitePayload = { ...unsigned, signature: signHex(canonicalInvite(unsigned), ownerSecretKeyHex) };
  return Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
}

export function decodeInviteToken(token: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    return isRecord(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** Per-key token bucket: `burst` tokens, refilled continuously at `perMinute`. */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly burst: number,
    private readonly perMinute: number,
  ) {}

  take(key: string, now = Date.now()): boolean {
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) * this.perMinute) / 60_000);
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  clear(): void {
    this.buckets.clear();
  }
}
