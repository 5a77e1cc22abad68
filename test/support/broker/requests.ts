/**
 * Request/reply types after hello (docs/protocol.md §4 table, §10). Reply names and shapes follow the broker's
 * handlers, not the CLI's schemas. Input the real broker's DB would reject gets no reply, like there.
 */
import type { PeerProfile, PeerStatus } from '../../../src/broker/types';
import { BrokerContext, Presence, routingKey, withReqId } from './context';
import type { SkillRow } from './database';
import { isRecord } from './primitives';

type Handler = (ctx: BrokerContext, p: Presence, msg: Record<string, unknown>) => void;

function reply(ctx: BrokerContext, p: Presence, msg: Record<string, unknown>, frame: Record<string, unknown>): void {
  ctx.sendFrame(p.ws, withReqId(frame, msg._reqId));
}

function replyError(ctx: BrokerContext, p: Presence, msg: Record<string, unknown>, code: string, message: string): void {
  reply(ctx, p, msg, { type: 'error', code, message });
}

/** The ack that set_visible and set_profile answer with. */
function plainAck(ctx: BrokerContext, p: Presence, msg: Record<string, unknown>): void {
  reply(ctx, p, msg, { type: 'ack', id: msg._reqId || '', messageId: '', queued: false });
}

function otherConnections(ctx: BrokerContext, p: Presence): Presence[] {
  return ctx.meshPresences(p.meshId).filter((other) => other !== p);
}

/** Writer names in state, memories and skills are the member's own display name, not the hello one. */
function memberName(ctx: BrokerContext, p: Presence): string {
  return ctx.db.memberById(p.memberId)?.displayName ?? 'unknown';
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/**
 * Optional fields come from a map keyed by member and session keys, filled in registration order (§11): a
 * member-keyed (control-plane) row shows those of its member's most recently registered connection.
 */
function peerRow(p: Presence, byKey: Map<string, Presence>) {
  const from = byKey.get(routingKey(p)) ?? p;
  return {
    pubkey: routingKey(p),
    memberPubkey: p.memberPubkey,
    displayName: p.displayName,
    status: p.status,
    summary: p.summary,
    groups: p.groups,
    sessionId: p.sessionId,
    connectedAt: p.connectedAt.toISOString(),
    cwd: p.cwd,
    peerRole: p.peerRole,
    ...(from.hostname !== undefined ? { hostname: from.hostname } : {}),
    ...(from.peerType !== undefined ? { peerType: from.peerType } : {}),
    ...(from.channel !== undefined ? { channel: from.channel } : {}),
    ...(from.model !== undefined ? { model: from.model } : {}),
    ...(from.stats ? { stats: from.stats } : {}),
    visible: p.visible,
    ...(Object.keys(from.profile).length > 0 ? { profile: from.profile } : {}),
  };
}

/** Grace connections included, oldest first. */
function listedPresences(ctx: BrokerContext, meshId: string): Presence[] {
  return ctx.meshPresences(meshId).sort((a, b) => a.connectedAt.getTime() - b.connectedAt.getTime());
}

const listPeers: Handler = (ctx, p, msg) => {
  const listed = listedPresences(ctx, p.meshId);
  const byKey = new Map<string, Presence>();
  for (const c of [...listed].sort((a, b) => a.registeredAt - b.registeredAt)) {
    byKey.set(c.memberPubkey, c);
    if (c.sessionPubkey) byKey.set(c.sessionPubkey, c);
  }
  const peers = listed.filter((other) => other.visible || other.memberId === p.memberId).map((other) => peerRow(other, byKey));
  reply(ctx, p, msg, { type: 'peers_list', peers });
};

const STATUSES: readonly PeerStatus[] = ['idle', 'working', 'dnd'];

/**
 * Status and summary are written to the database without a reply, and the real broker's log shows a list_peers
 * sent right after answered before the write landed (§11). `statusLagMs` later, like there; and no drain (§11).
 */
const setStatus: Handler = (ctx, p, msg) => {
  if (STATUSES.includes(msg.status as PeerStatus)) later(ctx, () => (p.status = msg.status as PeerStatus));
};

const setSummary: Handler = (ctx, p, msg) => {
  const summary = typeof msg.summary === 'string' ? msg.summary : '';
  later(ctx, () => (p.summary = summary));
};

function later(ctx: BrokerContext, write: () => void): void {
  if (ctx.options.statusLagMs > 0) setTimeout(write, ctx.options.statusLagMs);
  else write();
}

const setStats: Handler = (_ctx, p, msg) => {
  p.stats = isRecord(msg.stats) ? msg.stats : {};
};

const setVisible: Handler = (ctx, p, msg) => {
  p.visible = Boolean(msg.visible);
  for (const other of otherConnections(ctx, p)) {
    ctx.pushSystem(other, p.visible ? 'peer_visible' : 'peer_hidden', { name: p.displayName, pubkey: routingKey(p) });
  }
  plainAck(ctx, p, msg);
};

const setProfile: Handler = (ctx, p, msg) => {
  const changes: PeerProfile = {};
  for (const field of ['avatar', 'title', 'bio'] as const) {
    if (typeof msg[field] === 'string') changes[field] = msg[field];
  }
  if (Array.isArray(msg.capabilities)) changes.capabilities = strings(msg.capabilities);
  Object.assign(p.profile, changes);
  plainAck(ctx, p, msg);
  for (const other of otherConnections(ctx, p)) ctx.pushSystem(other, 'profile_updated', changes);
};

const joinGroup: Handler = (_ctx, p, msg) => {
  if (typeof msg.name !== 'string') return;
  const group = typeof msg.role === 'string' ? { name: msg.name, role: msg.role } : { name: msg.name };
  p.groups = [...p.groups.filter((g) => g.name !== msg.name), group];
};

const leaveGroup: Handler = (_ctx, p, msg) => {
  if (typeof msg.name === 'string') p.groups = p.groups.filter((g) => g.name !== msg.name);
};

const getState: Handler = (ctx, p, msg) => {
  if (typeof msg.key !== 'string') return;
  const row = ctx.db.meshState(p.meshId).get(msg.key);
  reply(ctx, p, msg, {
    type: 'state_result',
    key: msg.key,
    value: row ? row.value : null,
    updatedBy: row ? row.updatedBy : '',
    updatedAt: row ? row.updatedAt.toISOString() : '',
  });
};

/** No reply to the writer; every other connection of the mesh, siblings included, hears about it. */
const setState: Handler = (ctx, p, msg) => {
  if (typeof msg.key !== 'string' || msg.value === undefined || msg.value === null) return;
  const row = { key: msg.key, value: msg.value, updatedBy: memberName(ctx, p), updatedAt: new Date() };
  ctx.db.meshState(p.meshId).set(row.key, row);
  for (const other of otherConnections(ctx, p)) {
    ctx.sendFrame(other.ws, { type: 'state_change', key: row.key, value: row.value, updatedBy: row.updatedBy });
  }
};

const listState: Handler = (ctx, p, msg) => {
  const entries = [...ctx.db.meshState(p.meshId).values()]
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((r) => ({ key: r.key, value: r.value, updatedBy: r.updatedBy, updatedAt: r.updatedAt.toISOString() }));
  reply(ctx, p, msg, { type: 'state_list', entries });
};

const remember: Handler = (ctx, p, msg) => {
  if (typeof msg.content !== 'string') return;
  const row = ctx.db.insertMemory(p.meshId, msg.content, strings(msg.tags), memberName(ctx, p));
  reply(ctx, p, msg, { type: 'memory_stored', id: row.id });
};

const recall: Handler = (ctx, p, msg) => {
  if (typeof msg.query !== 'string') return;
  const memories = ctx.db.recall(p.meshId, msg.query).map((m) => ({
    id: m.id,
    content: m.content,
    tags: m.tags,
    rememberedBy: m.rememberedBy,
    rememberedAt: m.rememberedAt.toISOString(),
  }));
  reply(ctx, p, msg, { type: 'memory_results', memories });
};

const forget: Handler = (ctx, p, msg) => {
  const memory = ctx.db.memories.find((m) => m.meshId === p.meshId && m.id === msg.memoryId);
  if (memory) memory.forgotten = true;
  reply(ctx, p, msg, { type: 'ack', id: msg.memoryId, messageId: msg.memoryId, queued: false });
};

const shareSkill: Handler = (ctx, p, msg) => {
  const { name, description, instructions } = msg;
  if (typeof name !== 'string' || typeof description !== 'string' || typeof instructions !== 'string') return;
  const skills = ctx.db.meshSkills(p.meshId);
  skills.set(name, {
    name,
    description,
    instructions,
    tags: strings(msg.tags),
    author: memberName(ctx, p),
    manifest: msg.manifest ?? null,
    createdAt: skills.get(name)?.createdAt ?? new Date(),
  });
  reply(ctx, p, msg, { type: 'skill_ack', name, action: 'shared' });
};

function skillSummary(s: SkillRow) {
  return { name: s.name, description: s.description, tags: s.tags, author: s.author, createdAt: s.createdAt.toISOString() };
}

const getSkill: Handler = (ctx, p, msg) => {
  if (typeof msg.name !== 'string') return;
  const skill = ctx.db.meshSkills(p.meshId).get(msg.name);
  reply(ctx, p, msg, {
    type: 'skill_data',
    skill: skill ? { ...skillSummary(skill), instructions: skill.instructions, manifest: skill.manifest } : null,
  });
};

const listSkills: Handler = (ctx, p, msg) => {
  const query = typeof msg.query === 'string' ? msg.query.toLowerCase() : '';
  const skills = [...ctx.db.meshSkills(p.meshId).values()]
    .filter((s) => [s.name, s.description, ...s.tags].some((text) => text.toLowerCase().includes(query)))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map(skillSummary);
  reply(ctx, p, msg, { type: 'skill_list', skills });
};

const removeSkill: Handler = (ctx, p, msg) => {
  if (typeof msg.name !== 'string') return;
  const removed = ctx.db.meshSkills(p.meshId).delete(msg.name);
  reply(ctx, p, msg, { type: 'skill_ack', name: msg.name, action: removed ? 'removed' : 'not_found' });
};

const messageStatus: Handler = (ctx, p, msg) => {
  const { messageId } = msg;
  if (typeof messageId !== 'string' || !/^[0-9A-Za-z]{8,32}$/.test(messageId)) {
    return replyError(ctx, p, msg, 'invalid_argument', 'messageId must be 8-32 base62 characters (a prefix of a message id)');
  }
  const rows = ctx.db.queue.filter((r) => r.meshId === p.meshId && r.id.startsWith(messageId));
  if (rows.length === 0) return replyError(ctx, p, msg, 'not_found', 'message not found');
  if (rows.length > 1) return replyError(ctx, p, msg, 'ambiguous_prefix', `message id prefix "${messageId}" matches ${rows.length} messages`);
  const row = rows[0];
  const heldOrDelivered = row.deliveredAt ? ('delivered' as const) : ('held' as const);
  const peers = listedPresences(ctx, p.meshId);
  let recipients: { name: string; pubkey: string; status: 'delivered' | 'held' | 'disconnected' }[];
  if (row.targetSpec === '*' || row.targetSpec.startsWith('@')) {
    const group = row.targetSpec.startsWith('@') && row.targetSpec !== '@all' ? row.targetSpec.slice(1) : null;
    recipients = peers
      .filter((peer) => group === null || peer.groups.some((g) => g.name === group))
      .map((peer) => ({ name: peer.displayName, pubkey: routingKey(peer), status: heldOrDelivered }));
  } else {
    const target = peers.find((peer) => routingKey(peer) === row.targetSpec);
    recipients = target
      ? [{ name: target.displayName, pubkey: routingKey(target), status: heldOrDelivered }]
      : [{ name: 'unknown', pubkey: row.targetSpec.slice(0, 16), status: 'disconnected' }];
  }
  reply(ctx, p, msg, {
    type: 'message_status_result',
    messageId: row.id,
    targetSpec: row.targetSpec,
    delivered: row.deliveredAt !== null,
    deliveredAt: row.deliveredAt ? row.deliveredAt.toISOString() : null,
    recipients,
  });
};

const meshInfo: Handler = (ctx, p, msg) => {
  const peers = listedPresences(ctx, p.meshId);
  const groups = [...new Set(peers.flatMap((peer) => peer.groups.map((g) => `@${g.name}`)))];
  reply(ctx, p, msg, {
    type: 'mesh_info_result',
    mesh: p.meshId,
    peers: peers.length,
    groups,
    stateKeys: [...ctx.db.meshState(p.meshId).keys()].sort(),
    memoryCount: ctx.db.memories.filter((m) => m.meshId === p.meshId && !m.forgotten).length,
    fileCount: 0,
    tasks: { open: 0, claimed: 0, done: 0 },
    streams: [],
    tables: [],
    collections: [],
    yourName: p.displayName,
    yourGroups: p.groups,
  });
};

export const requestHandlers: ReadonlyMap<string, Handler> = new Map(
  Object.entries({
    list_peers: listPeers,
    set_status: setStatus,
    set_summary: setSummary,
    set_stats: setStats,
    set_visible: setVisible,
    set_profile: setProfile,
    join_group: joinGroup,
    leave_group: leaveGroup,
    get_state: getState,
    set_state: setState,
    list_state: listState,
    remember,
    recall,
    forget,
    share_skill: shareSkill,
    get_skill: getSkill,
    list_skills: listSkills,
    remove_skill: removeSkill,
    message_status: messageStatus,
    mesh_info: meshInfo,
  }),
);
