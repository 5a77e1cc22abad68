/**
 * The one place that turns inbound frames into typed messages (`parseFrame`) and the one place that decides what an
 * error means (`helloFailure`, `classifySendError`). Names and shapes follow docs/protocol.md (the § numbers below are
 * its sections), not the reference CLI.
 */
import type { Memory, MessageStatus, MeshInfo, Peer, PeerGroup, PeerRole, PeerStatus, Priority, Skill, SkillSummary, StateEntry } from './types';

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

export type Frame =
  | { type: 'hello_ack'; presenceId: string; memberDisplayName: string; raw: Record<string, unknown> }
  | { type: 'error'; code: string; message: string; reqId?: string }
  | { type: 'ack'; id: string; messageId: string; queued: boolean; error?: string; reqId?: string }
  | { type: 'push'; push: QueuedPush | SystemPush }
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

export type ParseResult = { ok: true; frame: Frame } | { ok: false; reason: string };

/** Thrown inside the parser only; `parseFrame` turns it into a rejection. */
class Reject extends Error {}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function str(o: Obj, key: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw new Reject(`field "${key}" must be a string`);
  return v;
}
function optStr(o: Obj, key: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new Reject(`field "${key}" must be a string`);
  return v;
}
function strOr(o: Obj, key: string, fallback: string): string {
  return optStr(o, key) ?? fallback;
}
function arr(o: Obj, key: string): unknown[] {
  const v = o[key];
  if (!Array.isArray(v)) throw new Reject(`field "${key}" must be an array`);
  return v;
}
function obj(v: unknown, what: string): Obj {
  if (!isObj(v)) throw new Reject(`${what} must be an object`);
  return v;
}
function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

const PRIORITIES: readonly string[] = ['now', 'next', 'low'];
const STATUSES: readonly string[] = ['idle', 'working', 'dnd'];
const ROLES: readonly string[] = ['control-plane', 'session', 'service'];

function priorityOf(o: Obj): Priority {
  const p = o.priority;
  return typeof p === 'string' && PRIORITIES.includes(p) ? (p as Priority) : 'next';
}

function groupsOf(v: unknown): PeerGroup[] {
  if (!Array.isArray(v)) return [];
  const groups: PeerGroup[] = [];
  for (const g of v) {
    if (isObj(g) && typeof g.name === 'string') groups.push(typeof g.role === 'string' ? { name: g.name, role: g.role } : { name: g.name });
  }
  return groups;
}

function peerOf(v: unknown): Peer {
  const o = obj(v, 'peer');
  const pubkey = str(o, 'pubkey');
  const status = typeof o.status === 'string' && STATUSES.includes(o.status) ? (o.status as PeerStatus) : 'idle';
  const role = typeof o.peerRole === 'string' && ROLES.includes(o.peerRole) ? (o.peerRole as PeerRole) : 'session';
  const peer: Peer = {
    pubkey,
    memberPubkey: strOr(o, 'memberPubkey', pubkey),
    displayName: strOr(o, 'displayName', pubkey.slice(0, 8)),
    status,
    summary: optStr(o, 'summary') ?? null,
    groups: groupsOf(o.groups),
    sessionId: strOr(o, 'sessionId', ''),
    connectedAt: strOr(o, 'connectedAt', ''),
    cwd: strOr(o, 'cwd', ''),
    peerRole: role,
  };
  for (const key of ['hostname', 'peerType', 'channel', 'model'] as const) {
    const value = optStr(o, key);
    if (value !== undefined) peer[key] = value;
  }
  if (typeof o.visible === 'boolean') peer.visible = o.visible;
  if (isObj(o.profile)) {
    const p = o.profile;
    peer.profile = {};
    for (const key of ['avatar', 'title', 'bio'] as const) if (typeof p[key] === 'string') peer.profile[key] = p[key];
    if (Array.isArray(p.capabilities)) peer.profile.capabilities = strings(p.capabilities);
  }
  return peer;
}

function stateEntryOf(v: unknown): StateEntry {
  const o = obj(v, 'state entry');
  return { key: str(o, 'key'), value: o.value, updatedBy: strOr(o, 'updatedBy', ''), updatedAt: strOr(o, 'updatedAt', '') };
}

function memoryOf(v: unknown): Memory {
  const o = obj(v, 'memory');
  return {
    id: str(o, 'id'),
    content: str(o, 'content'),
    tags: strings(o.tags),
    rememberedBy: strOr(o, 'rememberedBy', ''),
    rememberedAt: strOr(o, 'rememberedAt', ''),
  };
}

function skillSummaryOf(v: unknown): SkillSummary {
  const o = obj(v, 'skill');
  return {
    name: str(o, 'name'),
    description: strOr(o, 'description', ''),
    tags: strings(o.tags),
    author: strOr(o, 'author', ''),
    createdAt: strOr(o, 'createdAt', ''),
  };
}

function pushOf(o: Obj): QueuedPush | SystemPush {
  if (o.subtype === 'system') {
    return { kind: 'system', event: str(o, 'event'), eventData: isObj(o.eventData) ? o.eventData : {}, messageId: strOr(o, 'messageId', '') };
  }
  const push: QueuedPush = {
    kind: 'message',
    messageId: str(o, 'messageId'),
    meshId: strOr(o, 'meshId', ''),
    senderPubkey: strOr(o, 'senderPubkey', ''),
    priority: priorityOf(o),
    nonce: strOr(o, 'nonce', ''),
    ciphertext: str(o, 'ciphertext'),
    createdAt: strOr(o, 'createdAt', ''),
  };
  const optional = { senderMemberPubkey: 'senderMemberPubkey', senderName: 'senderName', clientMessageId: 'client_message_id', subtype: 'subtype' } as const;
  for (const [field, wire] of Object.entries(optional) as [keyof typeof optional, string][]) {
    const value = optStr(o, wire);
    if (value) push[field] = value;
  }
  if (!push.messageId) throw new Reject('push without messageId');
  return push;
}

function frameOf(o: Obj): Frame {
  const type = str(o, 'type');
  const reqId = optStr(o, '_reqId');
  switch (type) {
    case 'hello_ack':
      return { type, presenceId: str(o, 'presenceId'), memberDisplayName: strOr(o, 'memberDisplayName', ''), raw: o };
    case 'error':
      // topic_* and apikey_create errors carry the request id in `id` (§4).
      return { type, code: strOr(o, 'code', 'error'), message: strOr(o, 'message', ''), reqId: reqId ?? optStr(o, 'id') };
    case 'ack': {
      const error = optStr(o, 'error');
      return { type, id: strOr(o, 'id', ''), messageId: strOr(o, 'messageId', ''), queued: o.queued === true, ...(error ? { error } : {}), reqId };
    }
    case 'push':
      return { type, push: pushOf(o) };
    case 'state_change':
      return { type, key: str(o, 'key'), value: o.value, updatedBy: strOr(o, 'updatedBy', '') };
    case 'peers_list':
      return { type, peers: arr(o, 'peers').map(peerOf), reqId };
    case 'state_result':
      // Not found comes back as value:null with updatedAt "" (§4).
      return { type, entry: o.updatedAt === '' || o.value === null || o.value === undefined ? undefined : stateEntryOf(o), reqId };
    case 'state_list':
      return { type, entries: arr(o, 'entries').map(stateEntryOf), reqId };
    case 'memory_stored':
      return { type, id: str(o, 'id'), reqId };
    case 'memory_results':
      return { type, memories: arr(o, 'memories').map(memoryOf), reqId };
    case 'skill_ack':
      return { type, name: strOr(o, 'name', ''), action: strOr(o, 'action', ''), reqId };
    case 'skill_data': {
      if (o.skill === null || o.skill === undefined) return { type, skill: undefined, reqId };
      const s = obj(o.skill, 'skill');
      return { type, skill: { ...skillSummaryOf(s), instructions: strOr(s, 'instructions', ''), manifest: s.manifest }, reqId };
    }
    case 'skill_list':
      return { type, skills: arr(o, 'skills').map(skillSummaryOf), reqId };
    case 'message_status_result': {
      const recipients = Array.isArray(o.recipients) ? o.recipients.filter(isObj) : [];
      return {
        type,
        status: {
          messageId: strOr(o, 'messageId', ''),
          targetSpec: strOr(o, 'targetSpec', ''),
          delivered: o.delivered === true,
          deliveredAt: optStr(o, 'deliveredAt') ?? null,
          recipients: recipients.map((r) => ({
            name: strOr(r, 'name', ''),
            pubkey: strOr(r, 'pubkey', ''),
            status: r.status === 'delivered' || r.status === 'held' ? r.status : 'disconnected',
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
          mesh: strOr(o, 'mesh', ''),
          peers: typeof o.peers === 'number' ? o.peers : 0,
          groups: strings(o.groups),
          stateKeys: Array.isArray(o.stateKeys) ? strings(o.stateKeys) : typeof o.stateKeys === 'number' ? o.stateKeys : 0,
          memoryCount: typeof o.memoryCount === 'number' ? o.memoryCount : 0,
          yourName: strOr(o, 'yourName', ''),
          yourGroups: o.yourGroups,
        },
        reqId,
      };
    }
    default:
      return { type: 'other', frameType: type, raw: o, reqId };
  }
}

/** Parses one inbound text frame. Never throws: anything unusable comes back as a rejection with a reason to log. */
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
  try {
    return { ok: true, frame: frameOf(value) };
  } catch (err) {
    const type = typeof value.type === 'string' ? value.type.slice(0, 40) : '?';
    return { ok: false, reason: `${type} frame rejected: ${err instanceof Reject ? err.message : String(err)}` };
  }
}

/** The id a reply is correlated by: `_reqId`, or `id` for send acks (§4). */
export function correlationId(frame: Frame): string | undefined {
  if (frame.type === 'ack') return frame.reqId ?? (frame.id || undefined);
  return 'reqId' in frame ? frame.reqId : undefined;
}

export type HelloFailureAction =
  /** Retrying cannot help; tell the user what to do. */
  | { kind: 'terminal'; reason: string }
  /** Retry, but slowly (clock skew, capacity). */
  | { kind: 'slow'; reason: string; minDelayMs: number }
  | { kind: 'retry'; reason: string };

/** Decides what a hello rejection or a close code means. The only place that knows which failures are permanent. */
export function helloFailure(code: string | undefined, message: string, closeCode?: number): HelloFailureAction {
  if (closeCode === 4001) return { kind: 'terminal', reason: 'You were removed from this mesh by an admin (kicked). Reconnect when you are re-admitted.' };
  if (closeCode === 4002 || code === 'revoked') {
    return { kind: 'terminal', reason: message || 'Your membership of this mesh was revoked. Contact the mesh owner to rejoin.' };
  }
  switch (code) {
    case 'session_replaced':
      return { kind: 'terminal', reason: 'Another window or client took over this session. Use Reconnect to take it back.' };
    case 'unauthorized':
      return { kind: 'terminal', reason: 'The broker does not know this identity in this mesh (unauthorized). Join the mesh again with a fresh invite.' };
    case 'bad_signature':
    case 'malformed':
    case 'bad_session_pubkey':
    case 'bad_parent_pubkey':
    case 'attestation_mismatch':
    case 'parent_member_id_mismatch':
      return { kind: 'terminal', reason: `The broker rejected this identity (${code}: ${message}). Check the keys in your claudemesh config.` };
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
