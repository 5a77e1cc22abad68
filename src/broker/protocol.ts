/**
 * The one place that turns inbound frames into typed messages (`parseFrame`) and the one place that decides what an
 * error means: a failed request's `BrokerError.kind`, a hello rejection or close (`helloFailure`, `closeFailure`) and a
 * send ack's error (`classifySendError`). Names and shapes follow docs/protocol.md (the § numbers below are its
 * sections), not the reference CLI.
 */
import type { Memory, MessageStatus, MeshInfo, Peer, PeerGroup, PeerRole, Priority, Skill, SkillSummary, StateEntry } from './types';

export const MAX_FRAME_BYTES = 65_536;
/** What a send frame may take before the broker's 64 KiB frame limit; leaves room for the JSON around the body. */
export const MAX_SEND_FRAME_BYTES = MAX_FRAME_BYTES - 1_024;

export interface QueuedPush {
  kind: 'message';
  messageId: string;
  meshId: string;
  senderPubkey: string;
  senderMemberPubkey?: string;
  senderName?: string;
  priority: Priority;
  nonce: string;
  ciphertext: string;
  createdAt: string;
  clientMessageId?: string;
  subtype?: string;
}

export interface SystemPush {
  kind: 'system';
  event: string;
  eventData: Record<string, unknown>;
  messageId: string;
}

/** `subtype:"webhook"` (§5): a POST to one of the mesh's webhooks, relayed as is. */
export interface WebhookPush {
  kind: 'webhook';
  /** The webhook's name. */
  event: string;
  /** The POSTed JSON, untrusted. */
  data: unknown;
  messageId: string;
  createdAt: string;
}

export type Frame =
  | { type: 'hello_ack'; presenceId: string; memberDisplayName: string; raw: Record<string, unknown> }
  | { type: 'error'; code: string; message: string; reqId?: string }
  | { type: 'ack'; id: string; messageId: string; queued: boolean; error?: string; reqId?: string }
  | { type: 'push'; push: QueuedPush | SystemPush | WebhookPush }
  | { type: 'state_change'; key: string; value: unknown; updatedBy: string }
  | { type: 'peers_list'; peers: Peer[]; reqId?: string }
  | { type: 'state_result'; entry: StateEntry | undefined; reqId?: string }
  | { type: 'state_list'; entries: StateEntry[]; reqId?: string }
  | { type: 'memory_stored'; id: string; reqId?: string }
  | { type: 'memory_results'; memories: Memory[]; reqId?: string }
  | { type: 'skill_ack'; name: string; action: string; reqId?: string }
  | { type: 'skill_data'; skill: Skill | undefined; reqId?: string }
  | { type: 'skill_list'; skills: SkillSummary[]; reqId?: string }
  | { type: 'message_status_result'; status: MessageStatus; reqId?: string }
  | { type: 'mesh_info_result'; info: MeshInfo; reqId?: string }
  /** A well-formed frame of a type this client does not model; kept so a reply to a raw request can still be correlated. */
  | { type: 'other'; frameType: string; raw: Record<string, unknown>; reqId?: string };

/** One thing the parser dropped or skipped: `debug` for a bad optional field, `warn` for a skipped row. */
export interface ParseNote {
  level: 'debug' | 'warn';
  text: string;
}

export type ParseResult =
  | { ok: true; frame: Frame; notes: ParseNote[] }
  /** `type` and `reqId` come from the envelope when it was readable, so a broken reply still fails its request. */
  | { ok: false; reason: string; type?: string; reqId?: string };

/** Thrown inside the parser only, for a frame (or row) that lacks what it cannot do without. */
class Reject extends Error {}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Reads one frame's fields. Everything in a frame is broker- or peer-supplied (§11: `peers_list` copies hello fields
 * untyped), so a required field of the wrong type rejects only what it belongs to (the frame, or one row of a list),
 * and an optional one is dropped with a note; the rest is kept.
 */
class Reader {
  readonly notes: ParseNote[] = [];
  constructor(private readonly frameType: string) {}

  str(o: Obj, key: string): string {
    const v = o[key];
    if (typeof v !== 'string') throw new Reject(`field "${key}" must be a string`);
    return v;
  }
  optStr(o: Obj, key: string): string | undefined {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return v;
    this.drop(key, v);
    return undefined;
  }
  strOr(o: Obj, key: string, fallback: string): string {
    return this.optStr(o, key) ?? fallback;
  }
  arr(o: Obj, key: string): unknown[] {
    const v = o[key];
    if (!Array.isArray(v)) throw new Reject(`field "${key}" must be an array`);
    return v;
  }
  /** Keeps the rows that parse; each skipped row costs one warn note with its reason. */
  rows<T>(o: Obj, key: string, what: string, parse: (v: unknown) => T): T[] {
    const out: T[] = [];
    for (const [i, v] of this.arr(o, key).entries()) {
      try {
        out.push(parse(v));
      } catch (err) {
        if (!(err instanceof Reject)) throw err;
        this.notes.push({ level: 'warn', text: `${this.frameType}: skipped ${what} #${i}: ${err.message}` });
      }
    }
    return out;
  }
  strings(o: Obj, key: string): string[] {
    const v = o[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.drop(key, v);
      return [];
    }
    const kept = v.filter((x): x is string => typeof x === 'string');
    if (kept.length !== v.length) this.notes.push({ level: 'debug', text: `${this.frameType}: dropped ${v.length - kept.length} non-string entries of "${key}"` });
    return kept;
  }
  oneOf<T extends string>(o: Obj, key: string, allowed: readonly T[], fallback: T): T {
    const v = o[key];
    if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
    if (v !== undefined && v !== null) this.drop(key, v);
    return fallback;
  }
  drop(key: string, v: unknown): void {
    this.notes.push({ level: 'debug', text: `${this.frameType}: dropped field "${key}" (${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v})` });
  }
}

function obj(v: unknown, what: string): Obj {
  if (!isObj(v)) throw new Reject(`${what} must be an object`);
  return v;
}

const PRIORITIES = ['now', 'next', 'low'] as const;
const STATUSES = ['idle', 'working', 'dnd'] as const;
const ROLES: readonly string[] = ['control-plane', 'session', 'service'];

function groupsOf(r: Reader, o: Obj): PeerGroup[] {
  const v = o.groups;
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    r.drop('groups', v);
    return [];
  }
  const groups: PeerGroup[] = [];
  for (const g of v) {
    if (isObj(g) && typeof g.name === 'string') groups.push(typeof g.role === 'string' ? { name: g.name, role: g.role } : { name: g.name });
    else r.drop('groups[]', g);
  }
  return groups;
}

function peerOf(r: Reader, v: unknown): Peer {
  const o = obj(v, 'peer');
  const pubkey = r.str(o, 'pubkey');
  const displayName = r.str(o, 'displayName');
  const role = o.peerRole;
  if (typeof role !== 'string' || !ROLES.includes(role)) throw new Reject(`peer ${pubkey.slice(0, 8)} has no known peerRole`);
  const peer: Peer = {
    pubkey,
    memberPubkey: r.strOr(o, 'memberPubkey', pubkey),
    displayName,
    status: r.oneOf(o, 'status', STATUSES, 'idle'),
    summary: r.optStr(o, 'summary') ?? null,
    groups: groupsOf(r, o),
    sessionId: r.strOr(o, 'sessionId', ''),
    connectedAt: r.strOr(o, 'connectedAt', ''),
    cwd: r.strOr(o, 'cwd', ''),
    peerRole: role as PeerRole,
  };
  for (const key of ['hostname', 'peerType', 'channel', 'model'] as const) {
    const value = r.optStr(o, key);
    if (value !== undefined) peer[key] = value;
  }
  if (typeof o.visible === 'boolean') peer.visible = o.visible;
  else if (o.visible !== undefined && o.visible !== null) r.drop('visible', o.visible);
  if (isObj(o.profile)) {
    const p = o.profile;
    peer.profile = {};
    for (const key of ['avatar', 'title', 'bio'] as const) {
      const value = r.optStr(p, key);
      if (value !== undefined) peer.profile[key] = value;
    }
    if (p.capabilities !== undefined) peer.profile.capabilities = r.strings(p, 'capabilities');
  } else if (o.profile !== undefined && o.profile !== null) {
    r.drop('profile', o.profile);
  }
  return peer;
}

function stateEntryOf(r: Reader, v: unknown): StateEntry {
  const o = obj(v, 'state entry');
  return { key: r.str(o, 'key'), value: o.value, updatedBy: r.strOr(o, 'updatedBy', ''), updatedAt: r.strOr(o, 'updatedAt', '') };
}

function memoryOf(r: Reader, v: unknown): Memory {
  const o = obj(v, 'memory');
  return {
    id: r.str(o, 'id'),
    content: r.str(o, 'content'),
    tags: r.strings(o, 'tags'),
    rememberedBy: r.strOr(o, 'rememberedBy', ''),
    rememberedAt: r.strOr(o, 'rememberedAt', ''),
  };
}

function skillSummaryOf(r: Reader, v: unknown): SkillSummary {
  const o = obj(v, 'skill');
  return {
    name: r.str(o, 'name'),
    description: r.strOr(o, 'description', ''),
    tags: r.strings(o, 'tags'),
    author: r.strOr(o, 'author', ''),
    createdAt: r.strOr(o, 'createdAt', ''),
  };
}

function pushOf(r: Reader, o: Obj): QueuedPush | SystemPush | WebhookPush {
  if (o.subtype === 'system' || o.subtype === 'webhook') {
    const event = r.str(o, 'event');
    const messageId = r.strOr(o, 'messageId', '');
    if (o.subtype === 'system') return { kind: 'system', event, eventData: isObj(o.eventData) ? o.eventData : {}, messageId };
    return { kind: 'webhook', event, data: o.eventData ?? null, messageId, createdAt: r.strOr(o, 'createdAt', '') };
  }
  const messageId = r.str(o, 'messageId');
  if (!messageId) throw new Reject('push without messageId');
  const push: QueuedPush = {
    kind: 'message',
    messageId,
    meshId: r.strOr(o, 'meshId', ''),
    senderPubkey: r.strOr(o, 'senderPubkey', ''),
    priority: r.oneOf(o, 'priority', PRIORITIES, 'next'),
    nonce: r.strOr(o, 'nonce', ''),
    ciphertext: r.str(o, 'ciphertext'),
    createdAt: r.strOr(o, 'createdAt', ''),
  };
  const optional = { senderMemberPubkey: 'senderMemberPubkey', senderName: 'senderName', clientMessageId: 'client_message_id', subtype: 'subtype' } as const;
  for (const [field, wire] of Object.entries(optional) as [keyof typeof optional, string][]) {
    const value = r.optStr(o, wire);
    if (value) push[field] = value;
  }
  return push;
}

function frameOf(r: Reader, type: string, o: Obj, reqId: string | undefined): Frame {
  switch (type) {
    case 'hello_ack':
      return { type, presenceId: r.str(o, 'presenceId'), memberDisplayName: r.strOr(o, 'memberDisplayName', ''), raw: o };
    case 'error':
      // topic_* and apikey_create errors carry the request id in `id` (§4).
      return { type, code: r.strOr(o, 'code', 'error'), message: r.strOr(o, 'message', ''), reqId: reqId ?? idOf(o) };
    case 'ack': {
      const error = r.optStr(o, 'error');
      return { type, id: idOf(o) ?? '', messageId: r.strOr(o, 'messageId', ''), queued: o.queued === true, ...(error ? { error } : {}), reqId };
    }
    case 'push':
      return { type, push: pushOf(r, o) };
    case 'state_change':
      return { type, key: r.str(o, 'key'), value: o.value, updatedBy: r.strOr(o, 'updatedBy', '') };
    case 'peers_list':
      return { type, peers: r.rows(o, 'peers', 'peer', (v) => peerOf(r, v)), reqId };
    case 'state_result':
      // Not found comes back as value:null with updatedAt "" (§4).
      return { type, entry: o.updatedAt === '' || o.value === null || o.value === undefined ? undefined : stateEntryOf(r, o), reqId };
    case 'state_list':
      return { type, entries: r.rows(o, 'entries', 'state entry', (v) => stateEntryOf(r, v)), reqId };
    case 'memory_stored':
      return { type, id: r.str(o, 'id'), reqId };
    case 'memory_results':
      return { type, memories: r.rows(o, 'memories', 'memory', (v) => memoryOf(r, v)), reqId };
    case 'skill_ack':
      return { type, name: r.strOr(o, 'name', ''), action: r.strOr(o, 'action', ''), reqId };
    case 'skill_data': {
      if (o.skill === null || o.skill === undefined) return { type, skill: undefined, reqId };
      const s = obj(o.skill, 'skill');
      return { type, skill: { ...skillSummaryOf(r, s), instructions: r.strOr(s, 'instructions', ''), manifest: s.manifest }, reqId };
    }
    case 'skill_list':
      return { type, skills: r.rows(o, 'skills', 'skill', (v) => skillSummaryOf(r, v)), reqId };
    case 'message_status_result': {
      const recipients = Array.isArray(o.recipients) ? o.recipients.filter(isObj) : [];
      return {
        type,
        status: {
          messageId: r.strOr(o, 'messageId', ''),
          targetSpec: r.strOr(o, 'targetSpec', ''),
          delivered: o.delivered === true,
          deliveredAt: r.optStr(o, 'deliveredAt') ?? null,
          recipients: recipients.map((x) => ({
            name: r.strOr(x, 'name', ''),
            pubkey: r.strOr(x, 'pubkey', ''),
            status: x.status === 'delivered' || x.status === 'held' ? x.status : 'disconnected',
          })),
        },
        reqId,
      };
    }
    case 'mesh_info_result': {
      const { type: _t, _reqId: _r, ...rest } = o;
      return {
        type,
        info: {
          ...rest,
          mesh: r.strOr(o, 'mesh', ''),
          peers: typeof o.peers === 'number' ? o.peers : 0,
          groups: r.strings(o, 'groups'),
          stateKeys: Array.isArray(o.stateKeys) ? r.strings(o, 'stateKeys') : typeof o.stateKeys === 'number' ? o.stateKeys : 0,
          memoryCount: typeof o.memoryCount === 'number' ? o.memoryCount : 0,
          yourName: r.strOr(o, 'yourName', ''),
          yourGroups: o.yourGroups,
        },
        reqId,
      };
    }
    default:
      return { type: 'other', frameType: type, raw: o, reqId };
  }
}

/** A request id may be a string or a number on the wire; we only ever issue strings. */
function idOf(o: Obj): string | undefined {
  const v = o.id;
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * Parses one inbound text frame. Never throws. The envelope (`type`, `_reqId`, `id`) is read first, so even a reply
 * whose body is unusable comes back with the id it answers; a bad optional field or list row is dropped with a note.
 */
export function parseFrame(data: unknown): ParseResult {
  let text: string;
  if (typeof data === 'string') text = data;
  else if (Buffer.isBuffer(data)) text = data.toString('utf8');
  else if (Array.isArray(data) && data.every((part) => Buffer.isBuffer(part))) text = Buffer.concat(data).toString('utf8');
  else if (data instanceof ArrayBuffer) text = Buffer.from(data).toString('utf8');
  else return { ok: false, reason: 'frame is not text' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'frame is not valid JSON' };
  }
  if (!isObj(value)) return { ok: false, reason: 'frame is not a JSON object' };
  if (typeof value.type !== 'string') return { ok: false, reason: 'frame has no type', reqId: envelopeId(value) };
  const type = value.type.slice(0, 40);
  const reqId = typeof value._reqId === 'string' && value._reqId !== '' ? value._reqId : undefined;
  const reader = new Reader(type);
  try {
    return { ok: true, frame: frameOf(reader, value.type, value, reqId), notes: reader.notes };
  } catch (err) {
    return { ok: false, reason: `${type} frame rejected: ${err instanceof Reject ? err.message : String(err)}`, type, reqId: reqId ?? envelopeId(value) };
  }
}

function envelopeId(o: Obj): string | undefined {
  return typeof o._reqId === 'string' && o._reqId !== '' ? o._reqId : idOf(o);
}

/** The id a reply is correlated by: `_reqId`, or `id` for send acks (§4). */
export function correlationId(frame: Frame): string | undefined {
  if (frame.type === 'ack') return frame.reqId ?? (frame.id || undefined);
  return 'reqId' in frame ? frame.reqId : undefined;
}

/**
 * Why a request did not get the answer it asked for, decided here from the error's code and read everywhere else:
 * - `not_sent`: the frame never left (not connected, the write failed, too large for one frame);
 * - `lost`: it was written, then the connection dropped before its answer, so the broker may have acted on it;
 * - `timeout`: no answer in time; the broker may have acted on it, and a late answer can still come;
 * - `refused`: the broker answered with an error; `code` is the broker's;
 * - `bad_reply`: an answer came that could not be read, or was not the one asked for.
 */
export type BrokerErrorKind = 'not_sent' | 'lost' | 'timeout' | 'refused' | 'bad_reply';

/** The client's own error codes; the broker's come through `BrokerError.refused`. */
export type ClientErrorCode = 'not_connected' | 'write_failed' | 'too_large' | 'disconnected' | 'timeout' | 'bad_reply' | 'unexpected_reply';

const KIND_OF: Record<ClientErrorCode, BrokerErrorKind> = {
  not_connected: 'not_sent',
  write_failed: 'not_sent',
  too_large: 'not_sent',
  disconnected: 'lost',
  timeout: 'timeout',
  bad_reply: 'bad_reply',
  unexpected_reply: 'bad_reply',
};

/** Every failed request rejects with one of these; its message is fit to show the user. */
export class BrokerError extends Error {
  readonly kind: BrokerErrorKind;

  /** `code` is one of ours (ClientErrorCode) or, for a `refused` error, the broker's. */
  constructor(code: ClientErrorCode, message: string);
  constructor(code: string, message: string, kind: 'refused');
  constructor(
    readonly code: string,
    message: string,
    kind?: 'refused',
  ) {
    super(message);
    this.name = 'BrokerError';
    this.kind = kind ?? KIND_OF[code as ClientErrorCode];
  }

  /** The broker's `error` reply to a request: always `refused`, whatever its code says. */
  static refused(code: string, message: string): BrokerError {
    return new BrokerError(code, message, 'refused');
  }

  /** The connection went away without taking the frame, or before answering it: no attempt to count against it. */
  get isDisconnect(): boolean {
    return this.kind === 'not_sent' || this.kind === 'lost';
  }
}

export type HelloFailureAction =
  /** Retrying cannot help; tell the user what to do. `code` names the failure for the connection state. */
  | { kind: 'terminal'; code: string; reason: string }
  /** Retry, but slowly (clock skew, capacity). */
  | { kind: 'slow'; reason: string; minDelayMs: number }
  | { kind: 'retry'; reason: string };

/** What a socket's close means: the error the broker sent just before it (if any), else the close code and reason. */
export function closeFailure(told: { code?: string; message: string } | undefined, closeCode: number, closeReason: string): HelloFailureAction {
  // A take-over closes with 1000 and the reason "session_replaced", without an error frame first.
  const code = told?.code ?? (closeReason === 'session_replaced' ? closeReason : undefined);
  return helloFailure(code, told?.message ?? closeReason, closeCode);
}

/** Decides what a hello rejection or a close code means. The only place that knows which failures are permanent. */
export function helloFailure(code: string | undefined, message: string, closeCode?: number): HelloFailureAction {
  if (closeCode === 4001) return { kind: 'terminal', code: code ?? 'kicked', reason: 'You were removed from this mesh by an admin (kicked). Reconnect when you are re-admitted.' };
  if (closeCode === 4002 || code === 'revoked') {
    return { kind: 'terminal', code: code ?? 'revoked', reason: message || 'Your membership of this mesh was revoked. Contact the mesh owner to rejoin.' };
  }
  switch (code) {
    case 'session_replaced':
      return { kind: 'terminal', code, reason: 'Another window or client took over this session. Use Reconnect to take it back.' };
    case 'unauthorized':
      return { kind: 'terminal', code, reason: 'The broker does not know this identity in this mesh (unauthorized). Join the mesh again with a fresh invite.' };
    case 'bad_signature':
    case 'malformed':
    case 'bad_session_pubkey':
    case 'bad_parent_pubkey':
    case 'attestation_mismatch':
    case 'parent_member_id_mismatch':
      return { kind: 'terminal', code, reason: `The broker rejected this identity (${code}: ${message}). Check the keys in your claudemesh config.` };
    case 'timestamp_skew':
    case 'expired':
    case 'ttl_too_long':
      return { kind: 'slow', reason: `The broker rejected the hello because this computer's clock is off (${code}). Fix the system clock.`, minDelayMs: 60_000 };
    case 'capacity':
      return { kind: 'slow', reason: 'The mesh is at its connection capacity; retrying later.', minDelayMs: 60_000 };
    default:
      return { kind: 'retry', reason: message || code || (closeCode ? `connection closed (${closeCode})` : 'connection lost') };
  }
}

export type SendErrorClass = 'rate_limit' | 'no_peer' | 'permanent' | 'transient';

/** Classifies an `ack.error` string from the broker (§8). */
export function classifySendError(error: string): SendErrorClass {
  if (error.startsWith('rate_limit')) return 'rate_limit';
  if (error.startsWith('no connected peer')) return 'no_peer';
  if (error.startsWith('payload too large') || error.startsWith('blocked by recipient grants')) return 'permanent';
  return 'transient';
}
