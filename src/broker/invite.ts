/**
 * Invite links and the v1 join flow (docs/protocol.md §9): resolve a short code to a token, check the
 * signature and the expiry locally, then enrol a fresh keypair with the broker's `POST /join`.
 *
 * What each step proves: the signature is made with the key carried inside the same token, so it shows the link is
 * intact, not who made it. Only the broker's answer to `/join` shows the invite is real and makes us a member.
 */
import { brokerUrlProblem, validateJoinedMesh } from './config';
import { generateKeypair, signDetached, verifyDetached } from './crypto';
import { ANY_CASE_PUBLIC_KEY, BASE62_ID, SIGNATURE } from './keys';
import type { JoinedMesh } from './types';

export class InviteError extends Error {
  override readonly name = 'InviteError';

  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const DEFAULT_INVITE_BASE = 'https://claudemesh.com';
const VALID_LINK_EXAMPLE = 'Paste a link like https://claudemesh.com/i/Ab12Cd34 or ic://join/<token>.';
const SHORT_CODE = /^[0-9A-Za-z]{6,16}$/;
const TOKEN = /^[A-Za-z0-9_-]+={0,2}$/;
const RAW_TOKEN = /^[A-Za-z0-9_-]{21,}={0,2}$/;
/** How long any invite HTTP call may take. */
export const INVITE_HTTP_TIMEOUT_MS = 15_000;
const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '[::1]'];
/** `/i/<code>` or `/join/<token>`, optionally behind a two-letter locale such as `/es`. */
const LINK_PATH = /^(?:\/[A-Za-z]{2})?\/(i|join)\/([^/]+)\/?$/;

export type InviteLink = { kind: 'code'; code: string; base: string } | { kind: 'token'; token: string };

function malformedLink(detail: string): InviteError {
  return new InviteError('malformed_link', `${detail} ${VALID_LINK_EXAMPLE}`);
}

function linkFromPath(kind: string, value: string, base: string): InviteLink {
  if (kind === 'i') {
    if (!SHORT_CODE.test(value)) throw malformedLink('The code in this link is not an invite code (6 to 16 letters and digits).');
    return { kind: 'code', code: value, base };
  }
  if (!TOKEN.test(value)) throw malformedLink('The token in this join link is damaged (it must be base64url).');
  return { kind: 'token', token: value };
}

export function parseInviteLink(input: string): InviteLink {
  const text = typeof input === 'string' ? input.trim() : '';
  if (text === '') throw malformedLink('The invite link is empty.');

  if (text.startsWith('ic://join/')) return linkFromPath('join', text.slice('ic://join/'.length).replace(/\/$/, ''), '');
  if (/^https?:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw malformedLink('This is not a valid URL.');
    }
    const match = LINK_PATH.exec(url.pathname);
    if (!match) throw malformedLink('This is not an invite link: its path must be /i/<code> or /join/<token>.');
    // A short code is looked up over the network and the answer taken as the invite: only over TLS, except on this
    // machine (a local broker in tests and demos).
    if (match[1] === 'i' && url.protocol === 'http:' && !LOOPBACK_HOSTS.includes(url.hostname)) {
      throw new InviteError('insecure_link', 'Invite links must start with https:// (plain http:// is accepted only for 127.0.0.1). Ask for the https link.');
    }
    return linkFromPath(match[1], match[2], `${url.protocol}//${url.host}`);
  }
  if (SHORT_CODE.test(text)) return { kind: 'code', code: text, base: DEFAULT_INVITE_BASE };
  if (RAW_TOKEN.test(text)) return { kind: 'token', token: text };
  throw malformedLink("That doesn't look like a claudemesh invite.");
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

const DAMAGED = 'This invite is damaged or incomplete; ask the mesh owner to send it again.';

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Returns the parsed object itself (extra fields included), because `/join` wants it back as sent. */
export function decodeInviteToken(token: string): InvitePayload {
  if (typeof token !== 'string' || !TOKEN.test(token)) throw new InviteError('malformed', DAMAGED);
  let payload: unknown;
  try {
    payload = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(token, 'base64url')));
  } catch {
    throw new InviteError('malformed', DAMAGED);
  }
  if (!isRecord(payload)) throw new InviteError('malformed', DAMAGED);
  if (payload.v !== 1) {
    throw new InviteError('unsupported_version', `This invite uses format version ${JSON.stringify(payload.v)}; only version 1 invites are supported. Ask the mesh owner for a v1 invite link.`);
  }
  const wrongFields = [
    ...(['mesh_id', 'mesh_slug', 'broker_url', 'mesh_root_key', 'owner_pubkey', 'signature'] as const).filter((field) => typeof payload[field] !== 'string'),
    ...(typeof payload.expires_at === 'number' && Number.isFinite(payload.expires_at) ? [] : ['expires_at']),
    ...(payload.role === 'admin' || payload.role === 'member' ? [] : ['role']),
  ];
  if (wrongFields.length > 0) throw new InviteError('malformed', `${DAMAGED} (Bad or missing: ${wrongFields.join(', ')}.)`);
  return payload as unknown as InvitePayload;
}

function signedInviteString(fields: Omit<InvitePayload, 'signature'>): string {
  const { v, mesh_id, mesh_slug, broker_url, expires_at, mesh_root_key, role, owner_pubkey } = fields;
  return `${v}|${mesh_id}|${mesh_slug}|${broker_url}|${expires_at}|${mesh_root_key}|${role}|${owner_pubkey}`;
}

export function verifyInvite(payload: InvitePayload, nowMs: number): void {
  if (!ANY_CASE_PUBLIC_KEY.test(payload.owner_pubkey) || !SIGNATURE.test(payload.signature)) throw new InviteError('malformed', DAMAGED);
  if (!verifyDetached(signedInviteString(payload), payload.signature, payload.owner_pubkey)) {
    throw new InviteError('bad_signature', 'This invite link was altered or damaged: its signature does not match the key it carries. Ask the mesh owner for a new invite.');
  }
  const urlProblem = brokerUrlProblem(payload.broker_url);
  if (urlProblem) throw new InviteError('malformed', `This invite's broker address ${urlProblem}. Ask the mesh owner for a new invite.`);
  if (!BASE62_ID.test(payload.mesh_id)) throw new InviteError('malformed', `This invite's mesh id is not a 32-character id. Ask the mesh owner for a new invite.`);
  if (payload.expires_at * 1000 <= nowMs) {
    throw new InviteError('expired', `This invite expired on ${new Date(payload.expires_at * 1000).toISOString()}. Ask the mesh owner for a new one.`);
  }
}

/** The broker serves HTTP on the same host as its WebSocket: `wss://h/ws` → `https://h`. */
export function brokerHttpBase(brokerUrl: string): string {
  let url: URL;
  try {
    url = new URL(brokerUrl);
  } catch {
    throw new InviteError('malformed', `"${brokerUrl}" is not a broker URL (expected wss://host/ws).`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new InviteError('malformed', `"${brokerUrl}" is not a broker URL (expected wss://host/ws).`);
  return `${url.protocol === 'wss:' ? 'https:' : 'http:'}//${url.host}`;
}

function reason(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error instanceof Error ? error.message : String(error)}${cause}`;
}

/**
 * One invite HTTP call with a deadline; a network failure or a timeout becomes one InviteError naming `what` was being
 * done and at which `base`.
 */
async function request(fetchImpl: typeof fetch, url: string, init: RequestInit, what: string, base: string, timeoutMs: number): Promise<Response> {
  try {
    return await fetchImpl(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
      const limit = timeoutMs < 1000 ? `${timeoutMs} ms` : `${Math.round(timeoutMs / 1000)} s`;
      throw new InviteError('timeout', `${base} did not answer within ${limit} while ${what}. Check your connection and try again.`);
    }
    throw new InviteError('network', `Could not reach ${base} while ${what} (${reason(error)}). Check your connection and try again.`);
  }
}

async function readJson(response: Response): Promise<Record<string, unknown> | undefined> {
  try {
    const body: unknown = await response.json();
    return isRecord(body) ? body : undefined;
  } catch {
    return undefined;
  }
}

export async function resolveShortCode(code: string, base: string, fetchImpl: typeof fetch = fetch, timeoutMs = INVITE_HTTP_TIMEOUT_MS): Promise<string> {
  const response = await request(fetchImpl, `${base}/api/public/invite-code/${encodeURIComponent(code)}`, {}, `looking up invite code ${code}`, base, timeoutMs);
  const body = await readJson(response);
  if (response.status === 404 || body?.found === false) {
    throw new InviteError('not_found', `Invite code ${code} was not found at ${base}. Check it for typos, or ask the mesh owner for a new invite.`);
  }
  if (!response.ok) throw new InviteError('server', `${base} could not look up invite code ${code} (HTTP ${response.status}). Try again later.`);
  if (typeof body?.token !== 'string' || body.token === '') {
    throw new InviteError('malformed', `${base} answered the lookup of invite code ${code} without an invite token. Try again later.`);
  }
  return body.token;
}

const JOIN_REFUSALS: Record<string, string> = {
  invite_bad_signature: "The broker says this invite's signature is invalid. Ask the mesh owner for a new invite.",
  mesh_not_found: 'The mesh this invite is for no longer exists on the broker.',
  mesh_missing_owner_key: 'The mesh has no owner key on the broker, so it cannot accept invites. Contact the mesh owner.',
  invite_owner_mismatch: "This invite was not signed by the mesh's current owner. Ask the mesh owner for a new invite.",
  invite_not_found: 'The broker does not know this invite; it may have been deleted. Ask the mesh owner for a new one.',
  invite_mesh_mismatch: 'This invite does not belong to the mesh it names. Ask the mesh owner for a new invite.',
  invite_revoked: 'The mesh owner has revoked this invite. Ask them for a new one.',
  invite_expired: 'This invite has expired. Ask the mesh owner for a new one.',
  invite_exhausted: 'This invite has already been used as many times as it allows. Ask the mesh owner for a new one.',
  member_insert_failed: 'The broker could not add you as a member. Try again later, or contact the mesh owner if it keeps failing.',
};

function joinRefusal(status: number, body: Record<string, unknown> | undefined): InviteError {
  const error = typeof body?.error === 'string' ? body.error : undefined;
  if (error && JOIN_REFUSALS[error]) return new InviteError(error, JOIN_REFUSALS[error]);
  if (status === 413) return new InviteError('payload_too_large', 'The join request was too large for the broker. Use a shorter display name.');
  const detail = error ? `: ${error}` : ` (HTTP ${status})`;
  if (status >= 500) return new InviteError('server', `The broker failed while enrolling you${detail}. Try again later.`);
  return new InviteError(error && /^[a-z_]+$/.test(error) ? error : 'join_refused', `The broker refused to enrol you${detail}.`);
}

export interface AcceptInviteOptions {
  displayName: string;
  now?: () => number;
  fetchImpl?: typeof fetch;
  onProgress?: (step: string) => void;
  /** A fresh keypair is generated when omitted (one keypair per joined mesh). */
  keypair?: { pubkey: string; secretKey: string };
  /** Where a mesh is already joined (e.g. "the claudemesh config"), or undefined; a joined mesh is refused before /join. */
  alreadyJoined?: (meshId: string) => string | undefined;
  /** Deadline for each HTTP call; INVITE_HTTP_TIMEOUT_MS by default. */
  timeoutMs?: number;
}

export async function acceptInvite(input: string, opts: AcceptInviteOptions): Promise<JoinedMesh> {
  const now = opts.now ?? Date.now;
  const fetchImpl = opts.fetchImpl ?? fetch;
  const progress = opts.onProgress ?? (() => undefined);

  const link = parseInviteLink(input);
  let token: string;
  if (link.kind === 'code') {
    progress(`Looking up invite code ${link.code}…`);
    token = await resolveShortCode(link.code, link.base, fetchImpl, opts.timeoutMs);
  } else {
    token = link.token;
  }

  progress("Checking the link's signature (it shows the link is intact; the broker's answer decides membership)…");
  const payload = decodeInviteToken(token);
  // Checked before any enrolment request, so a forged or stale invite never reaches the broker.
  verifyInvite(payload, now());

  const joinedAs = opts.alreadyJoined?.(payload.mesh_id);
  if (joinedAs) {
    throw new InviteError(
      'already_joined',
      `You have already joined the mesh "${payload.mesh_slug}" (${joinedAs}). Joining again would enrol a second member with a new key; to re-join, remove the old entry first.`,
    );
  }

  const displayName = typeof opts.displayName === 'string' ? opts.displayName.trim() : '';
  if (displayName === '') throw new InviteError('invalid_display_name', 'Choose a display name before joining, so other peers know who you are.');

  const keypair = opts.keypair ?? generateKeypair();
  const base = brokerHttpBase(payload.broker_url);
  progress(`Asking the broker to enrol you in mesh "${payload.mesh_slug}"…`);
  const response = await request(
    fetchImpl,
    `${base}/join`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ invite_token: token, invite_payload: payload, peer_pubkey: keypair.pubkey, display_name: displayName }),
    },
    'enrolling you with the broker',
    base,
    opts.timeoutMs ?? INVITE_HTTP_TIMEOUT_MS,
  );
  const body = await readJson(response);
  if (response.status !== 200 || body?.ok !== true) throw joinRefusal(response.status, body);

  const joined = {
    meshId: payload.mesh_id,
    memberId: body.memberId,
    slug: payload.mesh_slug,
    name: payload.mesh_slug,
    pubkey: keypair.pubkey,
    secretKey: keypair.secretKey,
    brokerUrl: payload.broker_url,
    joinedAt: new Date(now()).toISOString(),
    rootKey: payload.mesh_root_key,
    inviteVersion: 1,
  };
  const { mesh, problems } = validateJoinedMesh(joined, 'the joined mesh');
  if (!mesh) throw new InviteError('malformed', `The broker accepted the join, but the result cannot be saved: ${problems.join(' ')}`);
  return mesh;
}

/** Signs and encodes an invite the way the mesh owner's tools do; for tests and the demo broker. */
export function createInviteToken(fields: Omit<InvitePayload, 'signature'>, ownerSecretKey: string): string {
  const signature = signDetached(signedInviteString(fields), ownerSecretKey);
  return Buffer.from(JSON.stringify({ ...fields, signature }), 'utf8').toString('base64url');
}
