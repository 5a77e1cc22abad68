/**
 * `send`, queue drains and `client_ack` (docs/protocol.md §4, §5 shapes a/b, §7, §8).
 */
import type { Priority } from '../../../src/broker/types';
import { BrokerContext, isOnline, Presence, routingKey } from './context';
import type { QueueRow } from './database';
import { randomBase62 } from './primitives';

const PRIORITIES: readonly Priority[] = ['now', 'next', 'low'];

const NO_RECIPIENT = 'no connected peer for target (not online, or targetSpec is your own key without another session)';

export function handleSend(ctx: BrokerContext, sender: Presence, msg: Record<string, unknown>): void {
  ctx.stats.sends++;
  const ack = (fields: Record<string, unknown>) => {
    ctx.stats.sendAcks++;
    ctx.sendFrame(sender.ws, { type: 'ack', id: msg.id ?? '', ...fields });
  };

  // Same order as the broker's handleSend: rate limit, size, then whatever makes the DB insert throw.
  if (ctx.buckets && !ctx.buckets.take(`${sender.meshId}/${sender.memberId}`)) {
    ctx.stats.rateLimited++;
    const { burst, perMinute } = ctx.options.rateLimit || { burst: 0, perMinute: 0 };
    ack({ messageId: '', queued: false, error: `rate_limit: max ${perMinute} msg/min (burst ${burst}) — slow down` });
    return;
  }
  const size = lengthOf(msg.ciphertext) + lengthOf(msg.nonce) + lengthOf(msg.targetSpec);
  if (size > ctx.options.maxPayload) {
    ack({ messageId: '', queued: false, error: `payload too large: ${size} bytes > MAX_MESSAGE_BYTES=${ctx.options.maxPayload}` });
    return;
  }
  const { targetSpec } = msg;
  if (typeof targetSpec !== 'string') return ctx.log('send dropped without ack: targetSpec must be a string');

  const isBroadcast = targetSpec === '*' || targetSpec === '@all';
  const groupName = !isBroadcast && targetSpec.startsWith('@') ? targetSpec.slice(1) : null;
  const isDirect = !isBroadcast && groupName === null && !targetSpec.startsWith('#');

  // A peer in the offline grace still counts as connected; DMs to fully offline peers are rejected, not queued.
  const recipients = isDirect
    ? ctx.meshPresences(sender.meshId).filter(
        (p) => p !== sender && (p.memberPubkey === targetSpec || p.sessionPubkey === targetSpec),
      )
    : [];
  if (isDirect && recipients.length === 0) {
    ack({ messageId: '', queued: false, error: NO_RECIPIENT });
    return;
  }

  const { priority, nonce, ciphertext } = msg;
  if (!PRIORITIES.includes(priority as Priority) || typeof nonce !== 'string' || typeof ciphertext !== 'string') {
    return ctx.log('send dropped without ack: priority must be now|next|low and nonce/ciphertext strings');
  }
  const row: QueueRow = {
    id: randomBase62(32),
    meshId: sender.meshId,
    senderMemberId: sender.memberId,
    senderPubkey: routingKey(sender),
    targetSpec,
    priority: priority as Priority,
    nonce,
    ciphertext,
    createdAt: new Date(),
    clientMessageId: typeof msg.client_message_id === 'string' ? msg.client_message_id : null,
    requestFingerprint: typeof msg.request_fingerprint === 'string' ? msg.request_fingerprint : null,
    deliveredAt: null,
    leaseUntil: null,
  };
  ctx.db.queue.push(row);
  ack({ messageId: row.id, queued: true });

  if (isDirect) {
    for (const recipient of recipients) drain(ctx, recipient);
  } else if (isBroadcast || groupName !== null) {
    fanOut(ctx, sender, row, groupName);
    row.deliveredAt = new Date();
  }
  // `#<topicId>` rows just sit in the queue: this broker has no topics, like a bad topic id on the real one.
}

/** Live multicast (shape b) to sockets open right now; grace and offline peers never get it. */
function fanOut(ctx: BrokerContext, sender: Presence, row: QueueRow, groupName: string | null): void {
  const push = {
    type: 'push',
    messageId: row.id,
    meshId: row.meshId,
    senderPubkey: row.senderPubkey,
    senderMemberPubkey: sender.memberPubkey,
    senderMemberId: sender.memberId,
    senderName: sender.displayName,
    priority: row.priority,
    nonce: row.nonce,
    ciphertext: row.ciphertext,
    createdAt: row.createdAt.toISOString(),
  };
  for (const p of ctx.meshPresences(row.meshId)) {
    if (p.memberId === sender.memberId || !p.visible || !isOnline(p)) continue;
    if (groupName !== null && !p.groups.some((g) => g.name === groupName)) continue;
    if (ctx.sendFrame(p.ws, push)) ctx.stats.pushes++;
  }
}

/**
 * Claims every deliverable row addressed to this connection's member or session key whose lease is free or
 * expired, leases it, and pushes it (shape a) in creation order. Runs on hello/reattach and after a DM to it.
 */
export function drain(ctx: BrokerContext, p: Presence): void {
  if (!isOnline(p)) return;
  // The real broker infers status from Claude Code transcripts on its own host; for a remote client that
  // inference says idle, so only a sticky `dnd` survives to drain time.
  if (p.status === 'working') p.status = 'idle';
  const allowed: readonly Priority[] = p.status === 'idle' ? PRIORITIES : ['now'];
  const keys = [p.memberPubkey, p.sessionPubkey];
  const now = Date.now();
  const claimable = ctx.db.queue.filter(
    (r) =>
      r.meshId === p.meshId &&
      r.deliveredAt === null &&
      keys.includes(r.targetSpec) &&
      (r.leaseUntil === null || r.leaseUntil <= now) &&
      allowed.includes(r.priority),
  );
  claimable.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  for (const r of claimable) {
    r.leaseUntil = now + ctx.options.leaseMs;
    const sent = ctx.sendFrame(p.ws, {
      type: 'push',
      messageId: r.id,
      meshId: r.meshId,
      senderPubkey: r.senderPubkey,
      priority: r.priority,
      nonce: r.nonce,
      ciphertext: r.ciphertext,
      createdAt: r.createdAt.toISOString(),
      ...(r.clientMessageId !== null ? { client_message_id: r.clientMessageId } : {}),
      ...(r.requestFingerprint !== null ? { request_fingerprint: r.requestFingerprint } : {}),
    });
    if (sent) ctx.stats.pushes++;
  }
}

/** Marks rows delivered, only those addressed to this connection's keys or to a multicast/topic spec (§7). */
export function handleClientAck(ctx: BrokerContext, p: Presence, msg: Record<string, unknown>): void {
  ctx.stats.clientAcks++;
  const { brokerMessageId, clientMessageId } = msg;
  const addressedToMe = (r: QueueRow) =>
    r.targetSpec === p.memberPubkey ||
    r.targetSpec === p.sessionPubkey ||
    r.targetSpec === '*' ||
    r.targetSpec.startsWith('@') ||
    r.targetSpec.startsWith('#');
  const matches = (r: QueueRow) =>
    typeof brokerMessageId === 'string' ? r.id === brokerMessageId : typeof clientMessageId === 'string' && r.clientMessageId === clientMessageId;
  for (const r of ctx.db.queue) {
    if (r.meshId === p.meshId && r.deliveredAt === null && matches(r) && addressedToMe(r)) r.deliveredAt = new Date();
  }
}

/** The lease sweeper: expired claims become claimable again at the next drain trigger (redelivery). */
export function releaseExpiredLeases(ctx: BrokerContext): void {
  const now = Date.now();
  for (const r of ctx.db.queue) {
    if (r.deliveredAt === null && r.leaseUntil !== null && r.leaseUntil <= now) r.leaseUntil = null;
  }
}

function lengthOf(value: unknown): number {
  return typeof value === 'string' ? value.length : 0;
}
