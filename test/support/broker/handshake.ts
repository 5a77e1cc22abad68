/**
 * Member `hello` (docs/protocol.md §3) and `session_hello` (§3): checks in the broker's order with its exact
 * codes, messages and close codes, then presence creation or a silent reattach.
 */
import type { WebSocket } from 'ws';
import type { PeerGroup, PeerRole } from '../../../src/broker/types';
import { BrokerContext, ClientInfo, Presence, routingKey } from './context';
import type { MemberRow } from './database';
import { drain } from './messaging';
import {
  checkAttestation,
  checkHelloSignature,
  checkSessionHelloSignature,
  isRecord,
  LOWER_HEX_64,
  randomBase62,
} from './primitives';

/** The per-socket handle the connection loop keeps; a successful hello points it at its presence. */
export interface SocketSession {
  ws: WebSocket;
  presenceId: string | null;
  lastPongAt: number;
}

export function removedFromMeshMessage(ctx: BrokerContext, meshId: string): string {
  const mesh = ctx.db.meshes.get(meshId);
  return `You've been removed from "${mesh?.name || mesh?.slug || meshId}". Contact the mesh owner to rejoin.`;
}

function reject(ctx: BrokerContext, ws: WebSocket, code: string, message: string, closeCode = 1008, reason = code): void {
  ctx.log(`hello rejected: ${code}`);
  ctx.sendFrame(ws, { type: 'error', code, message });
  ws.close(closeCode, reason);
}

function atCapacity(ctx: BrokerContext, meshId: unknown): boolean {
  // Counts grace connections too. Unlike the real broker, replaced/kicked/banned connections do not leak a slot.
  return typeof meshId === 'string' && ctx.meshPresences(meshId).length >= ctx.options.maxConnectionsPerMesh;
}

/** Revoked → 4002 `banned`; unknown → 1008 `unauthorized`. Returns the live member otherwise. */
function authorizeMember(ctx: BrokerContext, ws: WebSocket, meshId: string, pubkey: string, unknownMessage: string): MemberRow | undefined {
  const member = ctx.db.liveMember(meshId, pubkey);
  if (member) return member;
  if (ctx.db.revokedMember(meshId, pubkey)) reject(ctx, ws, 'revoked', removedFromMeshMessage(ctx, meshId), 4002, 'banned');
  else reject(ctx, ws, 'unauthorized', unknownMessage);
  return undefined;
}

interface ConnectionFields extends ClientInfo {
  displayName?: string;
  groups?: PeerGroup[];
}

/** sessionId/pid/cwd go into NOT NULL columns (pid an integer): anything else makes the real insert throw, so no ack. */
function connectionFields(ctx: BrokerContext, msg: Record<string, unknown>): ConnectionFields | undefined {
  const { sessionId, pid, cwd } = msg;
  if (typeof sessionId !== 'string' || typeof pid !== 'number' || !Number.isInteger(pid) || typeof cwd !== 'string') {
    ctx.log(`${msg.type} dropped without ack: sessionId (string), pid (integer) and cwd (string) are required`);
    return undefined;
  }
  const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
  // Like the real broker: hostname/peerType/channel/model go into peers_list untyped (§11), `"model": 1` included.
  const untyped = (value: unknown) => (value === undefined || value === null || value === '' ? undefined : value);
  const groups = Array.isArray(msg.groups)
    ? msg.groups.filter((g): g is PeerGroup => isRecord(g) && typeof g.name === 'string' && (g.role === undefined || typeof g.role === 'string'))
    : undefined;
  return {
    sessionId,
    pid,
    cwd,
    hostname: untyped(msg.hostname),
    peerType: untyped(msg.peerType),
    channel: untyped(msg.channel),
    model: untyped(msg.model),
    displayName: text(msg.displayName),
    groups: groups && groups.length > 0 ? groups : undefined,
  };
}

function memberProfile(member: MemberRow) {
  return { roleTag: member.roleTag, groups: member.groups, messageMode: member.messageMode };
}

function createPresence(
  ctx: BrokerContext,
  ws: WebSocket,
  member: MemberRow,
  sessionPubkey: string | null,
  peerRole: PeerRole,
  fields: ConnectionFields,
): Presence {
  const saved = ctx.db.peerState(member.meshId, member.memberId);
  const groups = fields.groups ?? (saved?.groups.length ? saved.groups : member.groups);
  const presence: Presence = {
    presenceId: randomBase62(32),
    meshId: member.meshId,
    memberId: member.memberId,
    memberPubkey: member.pubkey,
    sessionPubkey,
    peerRole,
    sessionId: fields.sessionId,
    pid: fields.pid,
    cwd: fields.cwd,
    hostname: fields.hostname,
    peerType: fields.peerType,
    channel: fields.channel,
    model: fields.model,
    displayName: fields.displayName ?? member.displayName,
    groups: groups.map((g) => ({ ...g })),
    status: 'idle',
    summary: null,
    visible: saved?.visible ?? true,
    profile: { ...(saved?.profile ?? {}) },
    connectedAt: new Date(),
    registeredAt: ctx.nextRegistration(),
    ws,
  };
  ctx.presences.set(presence.presenceId, presence);
  return presence;
}

/** Moves a presence onto a new socket, keeping its presenceId; no peer events. */
function reattach(ctx: BrokerContext, p: Presence, session: SocketSession, fields: ConnectionFields): void {
  clearTimeout(p.graceTimer);
  p.graceTimer = undefined;
  if (p.ws && p.ws !== session.ws) p.ws.close(1000, 'session_replaced');
  p.ws = session.ws;
  Object.assign(p, { pid: fields.pid, cwd: fields.cwd, hostname: fields.hostname ?? p.hostname, registeredAt: ctx.nextRegistration() });
  if (fields.displayName) p.displayName = fields.displayName;
  if (fields.groups) p.groups = fields.groups;
  session.presenceId = p.presenceId;
  ctx.log(`reattached ${p.displayName} (${p.presenceId})`);
}

export function handleMemberHello(ctx: BrokerContext, session: SocketSession, hello: Record<string, unknown>): void {
  const { ws } = session;
  const { meshId, pubkey } = hello;
  const declaredSessionKey = hello.sessionPubkey;
  if (declaredSessionKey != null && declaredSessionKey !== '') {
    if (typeof declaredSessionKey !== 'string' || !LOWER_HEX_64.test(declaredSessionKey)) {
      return reject(ctx, ws, 'bad_session_pubkey', 'sessionPubkey must be 64 lowercase hex chars');
    }
  }
  if (atCapacity(ctx, meshId)) return reject(ctx, ws, 'capacity', 'mesh at connection capacity');
  const signature = checkHelloSignature(hello, Date.now(), ctx.options.helloSkewMs);
  if (signature !== 'ok') return reject(ctx, ws, signature, `hello rejected: ${signature}`);
  const member = authorizeMember(ctx, ws, String(meshId), String(pubkey), 'pubkey not found in mesh');
  if (!member) return;
  const fields = connectionFields(ctx, hello);
  if (!fields) return;
  const sessionPubkey = typeof declaredSessionKey === 'string' && declaredSessionKey !== '' ? declaredSessionKey : null;

  // Only a connection in the offline grace is reattached: by session key if declared, else by sessionId + member key.
  const graceMatch = ctx
    .meshPresences(member.meshId)
    .find(
      (p) =>
        p.ws === null &&
        (sessionPubkey
          ? p.sessionPubkey === sessionPubkey
          : p.sessionPubkey === null && p.sessionId === fields.sessionId && p.memberPubkey === member.pubkey),
    );
  const saved = ctx.db.peerState(member.meshId, member.memberId);
  const restored = saved
    ? {
        restored: true,
        ...(saved.lastSummary ? { lastSummary: saved.lastSummary } : {}),
        lastSeenAt: saved.lastSeenAt.toISOString(),
        ...(!fields.groups && saved.groups.length ? { restoredGroups: saved.groups } : {}),
        restoredStats: saved.cumulativeStats,
      }
    : {};
  const ack = (p: Presence) =>
    ctx.sendFrame(ws, {
      type: 'hello_ack',
      presenceId: p.presenceId,
      memberDisplayName: p.displayName,
      memberProfile: memberProfile(member),
      ...restored,
    });

  if (graceMatch) {
    reattach(ctx, graceMatch, session, fields);
    ack(graceMatch);
    drain(ctx, graceMatch);
    return;
  }
  for (const old of ctx.meshPresences(member.meshId)) {
    if (old.sessionId !== fields.sessionId) continue;
    ctx.log(`session_replaced: ${old.presenceId}`);
    ctx.dropPresence(old);
    old.ws?.close(1000, 'session_replaced');
  }
  const presence = createPresence(ctx, ws, member, sessionPubkey, 'control-plane', fields);
  session.presenceId = presence.presenceId;
  ctx.log(`hello: ${presence.displayName} (${presence.presenceId})`);
  ack(presence);
  const joined = saved
    ? { event: 'peer_returned', data: { name: presence.displayName, pubkey: routingKey(presence), groups: presence.groups, lastSeenAt: saved.lastSeenAt.toISOString(), ...(saved.lastSummary ? { summary: saved.lastSummary } : {}) } }
    : { event: 'peer_joined', data: { name: presence.displayName, pubkey: routingKey(presence), groups: presence.groups } };
  for (const other of ctx.meshPresences(member.meshId)) {
    if (other.memberId !== member.memberId) ctx.pushSystem(other, joined.event, joined.data);
  }
  drain(ctx, presence);
}

export function handleSessionHello(ctx: BrokerContext, session: SocketSession, hello: Record<string, unknown>): void {
  const { ws } = session;
  const { meshId, sessionPubkey, parentMemberPubkey, parentAttestation } = hello;
  if (typeof sessionPubkey !== 'string' || !LOWER_HEX_64.test(sessionPubkey)) {
    return reject(ctx, ws, 'bad_session_pubkey', 'sessionPubkey must be 64 lowercase hex chars');
  }
  if (typeof parentMemberPubkey !== 'string' || !LOWER_HEX_64.test(parentMemberPubkey)) {
    return reject(ctx, ws, 'bad_parent_pubkey', 'parentMemberPubkey must be 64 lowercase hex chars');
  }
  if (
    !isRecord(parentAttestation) ||
    parentAttestation.sessionPubkey !== sessionPubkey ||
    parentAttestation.parentMemberPubkey !== parentMemberPubkey
  ) {
    return reject(ctx, ws, 'attestation_mismatch', 'parentAttestation keys must equal sessionPubkey and parentMemberPubkey');
  }
  if (atCapacity(ctx, meshId)) return reject(ctx, ws, 'capacity', 'mesh at connection capacity');
  const now = Date.now();
  const attestation = checkAttestation(parentAttestation, now);
  if (attestation !== 'ok') return reject(ctx, ws, attestation, `attestation rejected: ${attestation}`);
  const signature = checkSessionHelloSignature(hello, now, ctx.options.helloSkewMs);
  if (signature !== 'ok') return reject(ctx, ws, signature, `session_hello rejected: ${signature}`);
  const member = authorizeMember(ctx, ws, String(meshId), parentMemberPubkey, 'parent pubkey not found in mesh');
  if (!member) return;
  if (hello.parentMemberId !== member.memberId) {
    return reject(ctx, ws, 'parent_member_id_mismatch', 'parentMemberId does not match the member that owns parentMemberPubkey');
  }
  const fields = connectionFields(ctx, hello);
  if (!fields) return;

  // Any connection with this session key, online or in grace, is taken over.
  const existing = ctx.meshPresences(member.meshId).find((p) => p.sessionPubkey === sessionPubkey);
  if (existing) {
    reattach(ctx, existing, session, fields);
    ctx.sendFrame(ws, { type: 'hello_ack', presenceId: existing.presenceId, memberDisplayName: existing.displayName });
    drain(ctx, existing);
    return;
  }
  const presence = createPresence(ctx, ws, member, sessionPubkey, 'session', fields);
  session.presenceId = presence.presenceId;
  ctx.log(`session_hello: ${presence.displayName} (${presence.presenceId})`);
  ctx.sendFrame(ws, {
    type: 'hello_ack',
    presenceId: presence.presenceId,
    memberDisplayName: presence.displayName,
    memberProfile: memberProfile(member),
  });
  const data = { name: presence.displayName, pubkey: sessionPubkey, groups: presence.groups };
  for (const other of ctx.meshPresences(member.meshId)) {
    if (other !== presence) ctx.pushSystem(other, 'peer_joined', data);
  }
  drain(ctx, presence);
}
