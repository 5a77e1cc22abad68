/**
 * The durable outbox. Every row is its own store record, so persisting one change costs the same at any queue depth.
 * Bodies are encrypted once, at enqueue; retries resend identical bytes under the same client_message_id, on which a
 * DM's receiver dedupes. A multicast push carries no client_message_id (§5), so a multicast whose ack never came is
 * marked unknown instead of resent. A drain worker sends rows in order, paced to the broker's per-member rate limit,
 * with at most one `send` in flight per recipient: the broker handles frames concurrently (§11), so two sends in
 * flight to one recipient can be queued, and delivered, in either order. Sent DMs are then followed to delivery
 * (`message_status`).
 */
import { randomUUID } from 'crypto';
import { performance } from 'perf_hooks';
import { Emitter } from './events';
import { BrokerError, classifySendError, MAX_SEND_FRAME_BYTES } from './protocol';
import type { KeyValueStore } from './store';
import type { Logger, MessageStatus, OutboxRecipient, OutboxRow } from './types';

export interface SendAck {
  messageId: string;
  queued: boolean;
  error?: string;
}

export interface OutboxTransport {
  readonly connected: boolean;
  /** `onLate` hears an ack that arrived after `send` had already rejected with a timeout. */
  send(frame: Record<string, unknown>, onLate: (ack: SendAck) => void): Promise<SendAck>;
  /** The broker's `message_status` for a sent message; absent, sent DMs are not followed to delivery. */
  messageStatus?(brokerMessageId: string): Promise<MessageStatus>;
}

export interface RateLimit {
  burst: number;
  perMinute: number;
}

export interface OutboxOptions {
  meshId: string;
  store: KeyValueStore;
  transport: OutboxTransport;
  log?: Logger;
  /** How long a DM to an offline peer is held before it fails. Default 24 h. */
  holdExpiryMs?: number;
  /** The broker's per-member bucket (burst 10, 60/min); `false` when the broker has none (benchmarks). */
  rateLimit?: RateLimit | false;
  /**
   * Sends awaiting their ack at once, over all recipients (each has at most one). Default 64: under it the one per
   * recipient is the bound, so a drain to 50 recipients moves 50 rows per round trip; at 32 it moved 32 (≈10 % of
   * figure 1a).
   */
  maxInFlight?: number;
  /** Sent rows kept for the conversation view; older ones are deleted. */
  keepSent?: number;
  /** Transient failures (timeouts, unknown broker errors) before a row fails; disconnects do not count. */
  maxAttempts?: number;
  /** First `message_status` check of a sent DM after its ack; each next one waits twice as long (capped at 60 s). */
  deliveryPollMs?: number;
  /** Checks per sent DM before the outbox stops asking (the row then stays `sent`). */
  maxDeliveryChecks?: number;
  /** Sent DMs followed at once; the oldest beyond this stop being followed. */
  maxTracked?: number;
}

export class MessageTooLargeError extends Error {
  constructor(bytes: number) {
    super(`This message is too large to send (${Math.ceil(bytes / 1024)} KB once encrypted; the broker accepts about ${Math.floor(MAX_SEND_FRAME_BYTES / 1024)} KB). Shorten it or share it as a file or skill.`);
    this.name = 'MessageTooLargeError';
  }
}

/** What the caller decides about a row; the outbox fills in ids, status and timing. */
export type EnqueueRequest = Pick<OutboxRow, 'targetSpec' | 'targetLabel' | 'priority' | 'nonce' | 'ciphertext' | 'text' | 'fingerprint' | 'recipient'>;

/** A DM re-encrypted for another session of the same member (`Outbox.redirect`). */
export type Redirect = Pick<OutboxRow, 'targetSpec' | 'targetLabel' | 'nonce' | 'ciphertext' | 'fingerprint'> & { recipient: OutboxRecipient };

/** A DM's targetSpec is a key; `*` and `@group` are multicast (§7). */
export function isDirect(row: Pick<OutboxRow, 'targetSpec'>): boolean {
  return !row.targetSpec.startsWith('@') && row.targetSpec !== '*';
}

const RATE_LIMIT_DEFAULT: RateLimit = { burst: 10, perMinute: 60 };
/** The JSON of a send frame with every value empty (keys, quotes, punctuation), with room to spare. */
const SEND_FRAME_KEYS_BYTES = 256;

/** Transient backoff, as the CLI daemon: 1, 2, 4, 8, 16, then 30 s. */
export function retryDelayMs(attempts: number): number {
  return Math.min(30_000, 500 * 2 ** Math.min(attempts, 12));
}

/**
 * Our copy of the broker's bucket. It refills a little slower than the broker's (5 % plus 20 ms per token), so
 * network jitter between a token leaving here and arriving there never costs a rejection and a round-trip.
 */
class TokenBucket {
  private tokens: number;
  private last = performance.now();
  private readonly msPerToken: number;
  constructor(private readonly limit: RateLimit) {
    this.tokens = limit.burst;
    this.msPerToken = 60_000 / limit.perMinute / 0.95 + 20;
  }
  private refill(): void {
    // The monotonic clock: a wall-clock step must not stall the bucket (step back) or empty it in a burst (forward).
    const now = performance.now();
    this.tokens = Math.min(this.limit.burst, this.tokens + (now - this.last) / this.msPerToken);
    this.last = now;
  }
  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
  /** The broker said we are over its limit (its bucket is shared with our other clients): wait for a full token. */
  drain(): void {
    this.refill();
    this.tokens = Math.min(this.tokens, 0);
  }
  msUntilToken(): number {
    this.refill();
    return Math.max(1, Math.ceil((1 - this.tokens) * this.msPerToken));
  }
}

export class Outbox {
  private readonly rowsById = new Map<string, OutboxRow>();
  /** Rows waiting to be sent, one queue per recipient, each in seq order (so a retried row goes first). */
  private readonly queues = new Map<string, OutboxRow[]>();
  /** Recipients with a `send` awaiting its ack: the next row to them waits for it. */
  private readonly inFlightTo = new Set<string>();
  /** Sent rows, oldest first, so pruning never scans the whole outbox. */
  private sentInOrder: OutboxRow[] = [];
  /** DMs waiting for their recipient to come online. */
  private readonly held = new Set<OutboxRow>();
  /** Sent DMs being followed to delivery, with the monotonic time of their next `message_status` check. */
  private readonly tracked = new Map<OutboxRow, number>();
  private checking = 0;
  private lastPrune = -Infinity;
  private checkTimer: NodeJS.Timeout | undefined;
  private nextSeq = 1;
  private inFlight = 0;
  private wakeTimer: NodeJS.Timeout | undefined;
  private changePending = false;
  private disposed = false;
  private readonly writes = new Set<Promise<void>>();
  private readonly bucket: TokenBucket | undefined;
  private readonly prefix: string;
  private readonly holdExpiryMs: number;
  private readonly maxInFlight: number;
  private readonly keepSent: number;
  private readonly maxAttempts: number;
  private readonly deliveryPollMs: number;
  private readonly maxDeliveryChecks: number;
  private readonly maxTracked: number;
  private readonly log: Logger | undefined;

  private readonly changeEmitter: Emitter<readonly OutboxRow[]>;
  readonly onDidChange: Emitter<readonly OutboxRow[]>['event'];

  constructor(private readonly opts: OutboxOptions) {
    this.prefix = `claudemesh.outbox/${opts.meshId}/`;
    this.holdExpiryMs = opts.holdExpiryMs ?? 24 * 3600_000;
    this.maxInFlight = opts.maxInFlight ?? 64;
    this.keepSent = opts.keepSent ?? 500;
    this.maxAttempts = opts.maxAttempts ?? 25;
    this.deliveryPollMs = opts.deliveryPollMs ?? 1_000;
    this.maxDeliveryChecks = opts.maxDeliveryChecks ?? 8;
    this.maxTracked = opts.maxTracked ?? 100;
    this.log = opts.log;
    this.changeEmitter = new Emitter((err) => this.log?.error(`an outbox listener threw: ${err instanceof Error ? err.message : String(err)}`));
    this.onDidChange = this.changeEmitter.event;
    this.bucket = opts.rateLimit === false ? undefined : new TokenBucket(opts.rateLimit ?? RATE_LIMIT_DEFAULT);
    this.load();
    this.pump();
  }

  /** Rows in seq order (the map is filled in seq order, and new rows get the highest seq). */
  get rows(): OutboxRow[] {
    return [...this.rowsById.values()];
  }

  get(clientMessageId: string): OutboxRow | undefined {
    return this.rowsById.get(clientMessageId);
  }

  hasHeld(): boolean {
    return this.held.size > 0;
  }

  private load(): void {
    const loaded: OutboxRow[] = [];
    for (const key of this.opts.store.keys()) {
      if (!key.startsWith(this.prefix)) continue;
      const row = this.opts.store.get<OutboxRow>(key);
      if (!row || typeof row.clientMessageId !== 'string' || typeof row.seq !== 'number') continue;
      if (row.status === 'sending') {
        // Caught mid-send by a crash or reload: a DM is resent under the same client_message_id (the receiver dedupes);
        // a multicast is not, since nothing dedupes it: it may or may not have gone out.
        if (isDirect(row)) row.status = 'queued';
        else this.markUnknown(row, false);
      }
      // nextAttemptAt is on the monotonic clock of the process that wrote it: meaningless now, so due at once.
      row.nextAttemptAt = 0;
      loaded.push(row);
    }
    loaded.sort((a, b) => a.seq - b.seq);
    for (const row of loaded) {
      this.rowsById.set(row.clientMessageId, row);
      this.nextSeq = row.seq + 1;
      if (row.status === 'queued') this.queueFor(row.targetSpec).push(row);
      if (row.status === 'held') this.held.add(row);
    }
    this.sentInOrder = loaded.filter((r) => r.status === 'sent' || r.status === 'delivered').sort((a, b) => (a.sentAt ?? 0) - (b.sentAt ?? 0));
    for (const row of this.sentInOrder) if (row.status === 'sent') this.track(row);
  }

  /** Persists the row, then returns it. Throws MessageTooLargeError when it could never fit in one frame. */
  async enqueue(req: EnqueueRequest): Promise<OutboxRow> {
    const clientMessageId = randomUUID();
    // A JSON string takes at most 6 bytes per UTF-16 unit (\uXXXX), so most messages are clearly small enough to
    // skip serialising the frame just to measure it; the rest are measured exactly.
    const chars = req.targetSpec.length + req.priority.length + req.nonce.length + req.ciphertext.length + req.fingerprint.length + clientMessageId.length;
    if (SEND_FRAME_KEYS_BYTES + 6 * chars > MAX_SEND_FRAME_BYTES) {
      const bytes = Buffer.byteLength(JSON.stringify(sendFrame({ ...req, clientMessageId } as OutboxRow)));
      if (bytes > MAX_SEND_FRAME_BYTES) throw new MessageTooLargeError(bytes);
    }
    const row: OutboxRow = {
      seq: this.nextSeq++,
      clientMessageId,
      fingerprint: req.fingerprint,
      meshId: this.opts.meshId,
      targetSpec: req.targetSpec,
      targetLabel: req.targetLabel,
      priority: req.priority,
      nonce: req.nonce,
      ciphertext: req.ciphertext,
      text: req.text,
      status: 'queued',
      attempts: 0,
      nextAttemptAt: performance.now(),
      createdAt: Date.now(),
      ...(req.recipient ? { recipient: req.recipient } : {}),
    };
    this.rowsById.set(clientMessageId, row);
    await this.persist(row);
    this.queueFor(row.targetSpec).push(row);
    this.changed();
    this.pump();
    return row;
  }

  /** Wakes the drain worker; after a (re)connect every waiting row is due at once. */
  kick(afterConnect = false): void {
    if (afterConnect) {
      const now = performance.now();
      for (const queue of this.queues.values()) for (const row of queue) row.nextAttemptAt = Math.min(row.nextAttemptAt, now);
      for (const row of this.tracked.keys()) this.tracked.set(row, now);
    }
    this.pump();
    this.scheduleChecks();
  }

  /**
   * Peers were seen online: their held DMs go back to the queue, and a DM marked not delivered to one of them is
   * waited for again (a resumed session comes back under the same key, and the broker still holds the DM for it).
   */
  peerSeen(pubkeys: Iterable<string>): void {
    const seen = new Set(pubkeys);
    let any = false;
    for (const row of [...this.held]) {
      if (seen.has(row.targetSpec)) {
        this.requeue(row, performance.now());
        any = true;
      }
    }
    for (const row of this.rowsById.values()) {
      if (row.status !== 'not_delivered' || !seen.has(row.targetSpec)) continue;
      row.status = 'sent';
      delete row.notDeliveredReason;
      row.deliveryChecks = 0;
      void this.persist(row);
      this.track(row);
      this.changed();
    }
    if (any) this.pump();
    this.scheduleChecks();
  }

  /** A session left the mesh (`peer_left`): every sent, undelivered DM to it is checked now, and marked if lost. */
  peerGone(pubkey: string): void {
    for (const row of this.rowsById.values()) {
      if (row.status === 'sent' && row.targetSpec === pubkey && row.brokerMessageId) this.tracked.set(row, 0);
    }
    this.scheduleChecks();
  }

  async retry(clientMessageId: string): Promise<void> {
    const row = this.rowsById.get(clientMessageId);
    if (!row || (row.status !== 'failed' && row.status !== 'held' && row.status !== 'unknown')) return;
    row.attempts = 0;
    delete row.heldSince;
    this.requeue(row, performance.now());
    await this.flush();
    this.pump();
  }

  async retryFailed(): Promise<number> {
    const failed = [...this.rowsById.values()].filter((r) => r.status === 'failed');
    for (const row of failed) await this.retry(row.clientMessageId);
    return failed.length;
  }

  /**
   * Sends a DM again, re-encrypted for another session (of the same member), under the same client_message_id: for
   * a row `not_delivered`, `held` or `failed`, or one `sent` but not yet confirmed delivered.
   */
  async redirect(clientMessageId: string, to: Redirect): Promise<void> {
    const row = this.rowsById.get(clientMessageId);
    if (!row || !isDirect(row) || !['not_delivered', 'held', 'failed', 'sent'].includes(row.status)) {
      throw new Error('This message can no longer be sent to another session.');
    }
    this.held.delete(row);
    this.tracked.delete(row);
    Object.assign(row, to);
    for (const key of ['notDeliveredReason', 'heldSince', 'brokerMessageId', 'sentAt', 'deliveryChecks', 'lastError'] as const) delete row[key];
    row.attempts = 0;
    this.requeue(row, performance.now());
    await this.flush();
    this.pump();
  }

  async discard(clientMessageId: string): Promise<void> {
    const row = this.rowsById.get(clientMessageId);
    if (!row || row.status === 'sending') return;
    this.forget(row);
    await this.remove(row);
    this.changed();
  }

  /** Discards every failed row at once; returns how many. */
  async discardFailed(): Promise<number> {
    const failed = [...this.rowsById.values()].filter((r) => r.status === 'failed');
    for (const row of failed) this.forget(row);
    await Promise.all(failed.map((row) => this.remove(row)));
    if (failed.length) this.changed();
    return failed.length;
  }

  /** Resolves when every store write started so far has finished. */
  async flush(): Promise<void> {
    while (this.writes.size) await Promise.all([...this.writes]);
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.wakeTimer);
    clearTimeout(this.checkTimer);
    this.changeEmitter.dispose();
  }

  private queueFor(targetSpec: string): OutboxRow[] {
    let queue = this.queues.get(targetSpec);
    if (!queue) this.queues.set(targetSpec, (queue = []));
    return queue;
  }

  private forget(row: OutboxRow): void {
    this.rowsById.delete(row.clientMessageId);
    this.held.delete(row);
    this.tracked.delete(row);
    this.unqueue(row);
  }

  private unqueue(row: OutboxRow): void {
    const queue = this.queues.get(row.targetSpec);
    const i = queue ? queue.indexOf(row) : -1;
    if (i < 0) return;
    queue!.splice(i, 1);
    if (queue!.length === 0) this.queues.delete(row.targetSpec);
  }

  /** Sends the head of every recipient's queue that is due and has nothing in flight, as tokens allow. */
  private pump(): void {
    if (this.disposed || !this.opts.transport.connected) return;
    clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    this.expire();
    const now = performance.now();
    let wakeAt = Infinity;
    for (const [target, queue] of this.queues) {
      if (this.inFlight >= this.maxInFlight) break;
      if (this.inFlightTo.has(target)) continue;
      const row = queue[0];
      if (row.nextAttemptAt > now) {
        wakeAt = Math.min(wakeAt, row.nextAttemptAt);
        continue;
      }
      if (this.bucket && !this.bucket.take()) {
        wakeAt = Math.min(wakeAt, now + this.bucket.msUntilToken());
        break;
      }
      queue.shift();
      if (queue.length === 0) this.queues.delete(target);
      this.sendRow(row);
    }
    if (this.hasHeld()) wakeAt = Math.min(wakeAt, now + 60_000);
    if (wakeAt !== Infinity) this.wakeTimer = setTimeout(() => this.pump(), Math.max(1, wakeAt - now));
  }

  private sendRow(row: OutboxRow): void {
    const target = row.targetSpec;
    this.inFlight++;
    this.inFlightTo.add(target);
    row.status = 'sending';
    row.attempts++;
    // Only a multicast needs "sending" on disk: reloaded so, it is marked unknown instead of resent. A DM reloaded as
    // "sending" is queued again, exactly as its stored "queued" is, so that write would cost a record and buy nothing.
    if (!isDirect(row)) void this.persist(row);
    this.changed();
    this.opts.transport.send(sendFrame(row), (ack) => this.onLateAck(row, ack)).then(
      (ack) => this.onAck(row, ack),
      (err: Error) => this.onSendFailed(row, err),
    ).finally(() => {
      this.inFlight--;
      this.inFlightTo.delete(target);
      this.pump();
    });
  }

  private onAck(row: OutboxRow, ack: SendAck): void {
    if (this.rowsById.get(row.clientMessageId) !== row || row.status !== 'sending') return;
    if (!ack.error) {
      this.markSent(row, ack);
      return;
    }
    switch (classifySendError(ack.error)) {
      case 'rate_limit':
        // Not the message's fault: it waits for a token and goes out first.
        row.attempts--;
        this.bucket?.drain();
        this.requeue(row, performance.now() + (this.bucket?.msUntilToken() ?? 1_000));
        return;
      case 'no_peer':
        row.status = 'held';
        row.heldSince ??= Date.now();
        this.held.add(row);
        row.lastError = 'The recipient is offline; the message will be delivered when they are back.';
        void this.persist(row);
        this.changed();
        return;
      case 'permanent':
        this.fail(row, ack.error);
        return;
      case 'transient':
        this.transient(row, ack.error, true);
    }
  }

  /**
   * The ack of a send that had timed out. If the row has not been sent again yet (a DM waiting out its backoff, or a
   * multicast marked unknown), it is sent after all: applying the ack stops the resend, so nobody sees it twice.
   */
  private onLateAck(row: OutboxRow, ack: SendAck): void {
    if (this.rowsById.get(row.clientMessageId) !== row || ack.error) return;
    if (row.status !== 'queued' && row.status !== 'unknown' && row.status !== 'failed') return;
    this.log?.debug(`outbox: a late ack confirmed message ${row.clientMessageId}`);
    this.unqueue(row);
    this.markSent(row, ack);
  }

  private markSent(row: OutboxRow, ack: SendAck): void {
    row.status = 'sent';
    row.sentAt = Date.now();
    row.brokerMessageId = ack.messageId;
    for (const key of ['lastError', 'heldSince', 'deliveryChecks'] as const) delete row[key];
    void this.persist(row);
    this.sentInOrder.push(row);
    this.pruneSent();
    if (isDirect(row) && ack.messageId) this.track(row);
    this.changed();
  }

  private onSendFailed(row: OutboxRow, err: Error): void {
    if (this.rowsById.get(row.clientMessageId) !== row || row.status !== 'sending') return;
    const kind = err instanceof BrokerError ? err.kind : undefined;
    if (!isDirect(row) && (kind === 'lost' || kind === 'timeout')) {
      // The frame was written but never confirmed; a multicast resend would reach everyone twice (§7: no dedupe).
      this.markUnknown(row, true);
      return;
    }
    this.transient(row, err.message, !(err instanceof BrokerError && err.isDisconnect));
  }

  private markUnknown(row: OutboxRow, persist: boolean): void {
    row.status = 'unknown';
    row.lastError = 'The connection dropped before the broker confirmed this message: it may not have been sent. Retry sends it again (anyone who got it sees it twice).';
    if (persist) {
      this.log?.info(`outbox: message ${row.clientMessageId} to ${row.targetLabel} may not have been sent`);
      void this.persist(row);
      this.changed();
    }
  }

  private transient(row: OutboxRow, reason: string, counts: boolean): void {
    if (!counts) row.attempts--;
    if (row.attempts >= this.maxAttempts) {
      this.fail(row, `gave up after ${row.attempts} attempts: ${reason}`);
      return;
    }
    row.lastError = reason;
    this.requeue(row, performance.now() + retryDelayMs(row.attempts));
  }

  private fail(row: OutboxRow, reason: string): void {
    this.held.delete(row);
    row.status = 'failed';
    row.lastError = reason;
    this.log?.warn(`outbox: message ${row.clientMessageId} to ${row.targetLabel} failed: ${reason}`);
    void this.persist(row);
    this.changed();
  }

  private requeue(row: OutboxRow, at: number): void {
    this.held.delete(row);
    row.status = 'queued';
    row.nextAttemptAt = at;
    void this.persist(row);
    // Keep the recipient's queue in seq order so a retried row goes out before newer ones to the same recipient.
    const queue = this.queueFor(row.targetSpec);
    if (!queue.includes(row)) {
      let i = queue.length;
      while (i > 0 && queue[i - 1].seq > row.seq) i--;
      queue.splice(i, 0, row);
    }
    this.changed();
  }

  /** Held DMs fail after the hold expiry; failed rows are deleted once that long has passed since they were written. */
  private expire(): void {
    const now = Date.now();
    for (const row of [...this.held]) {
      if (row.heldSince !== undefined && now - row.heldSince > this.holdExpiryMs) {
        this.fail(row, `The recipient did not come back online within ${Math.round(this.holdExpiryMs / 3600_000) || '<1'} h.`);
      }
    }
    // Failed rows are few and old; one scan a minute is plenty, and keeps an ack's pump from scanning every row.
    if (performance.now() - this.lastPrune < 60_000) return;
    this.lastPrune = performance.now();
    for (const row of [...this.rowsById.values()]) {
      if (row.status === 'failed' && now - row.createdAt > this.holdExpiryMs) {
        this.forget(row);
        void this.remove(row);
        this.changed();
      }
    }
  }

  /** Starts following a sent DM to delivery; the oldest followed row makes room when there are too many. */
  private track(row: OutboxRow): void {
    if (!this.opts.transport.messageStatus || (row.deliveryChecks ?? 0) >= this.maxDeliveryChecks) return;
    this.tracked.set(row, performance.now() + this.deliveryPollMs * 2 ** (row.deliveryChecks ?? 0));
    if (this.tracked.size > this.maxTracked) this.tracked.delete(this.tracked.keys().next().value!);
    this.scheduleChecks();
  }

  private scheduleChecks(): void {
    if (this.disposed || this.checkTimer || this.tracked.size === 0 || !this.opts.transport.connected) return;
    let next = Infinity;
    for (const at of this.tracked.values()) next = Math.min(next, at);
    this.checkTimer = setTimeout(() => {
      this.checkTimer = undefined;
      this.runChecks();
    }, Math.max(1, Math.min(60_000, next - performance.now())));
  }

  private runChecks(): void {
    if (this.disposed || !this.opts.transport.connected) return;
    const now = performance.now();
    for (const [row, at] of this.tracked) {
      if (this.checking >= 4) break;
      if (at > now) continue;
      this.tracked.delete(row);
      this.checking++;
      void this.checkDelivery(row).finally(() => {
        this.checking--;
        this.scheduleChecks();
      });
    }
    this.scheduleChecks();
  }

  private async checkDelivery(row: OutboxRow): Promise<void> {
    const id = row.brokerMessageId;
    if (!id || row.status !== 'sent' || this.rowsById.get(row.clientMessageId) !== row) return;
    let status: MessageStatus;
    try {
      status = await this.opts.transport.messageStatus!(id);
    } catch (err) {
      const failure = err instanceof BrokerError ? err : undefined;
      this.log?.debug(`outbox: message_status for ${row.clientMessageId} failed: ${(err as Error).message}`);
      if (failure?.kind === 'refused' && failure.code === 'not_found') return;
      if (!failure?.isDisconnect) row.deliveryChecks = (row.deliveryChecks ?? 0) + 1;
      this.track(row);
      return;
    }
    if (row.status !== 'sent' || row.brokerMessageId !== id) return;
    row.deliveryChecks = (row.deliveryChecks ?? 0) + 1;
    if (status.delivered) {
      row.status = 'delivered';
      const at = status.deliveredAt ? Date.parse(status.deliveredAt) : NaN;
      row.deliveredAt = Number.isFinite(at) ? at : Date.now();
      delete row.deliveryChecks;
    } else if (status.recipients.length > 0 && status.recipients.every((r) => r.status === 'disconnected')) {
      row.status = 'not_delivered';
      row.notDeliveredReason = notDeliveredReason(row);
      this.log?.info(`outbox: message ${row.clientMessageId} to ${row.targetLabel} was not delivered: its session is gone`);
    } else {
      this.track(row);
    }
    void this.persist(row);
    this.changed();
  }

  private pruneSent(): void {
    while (this.sentInOrder.length > this.keepSent) {
      const row = this.sentInOrder.shift()!;
      if (this.rowsById.get(row.clientMessageId) !== row || (row.status !== 'sent' && row.status !== 'delivered')) continue;
      this.forget(row);
      void this.remove(row);
    }
  }

  private keyOf(row: OutboxRow): string {
    return this.prefix + String(row.seq).padStart(12, '0');
  }

  private persist(row: OutboxRow): Promise<void> {
    return this.trackWrite(this.opts.store.update(this.keyOf(row), row));
  }

  private remove(row: OutboxRow): Promise<void> {
    return this.trackWrite(this.opts.store.update(this.keyOf(row), undefined));
  }

  private trackWrite(write: PromiseLike<void>): Promise<void> {
    const p = Promise.resolve(write).catch((err: Error) => this.log?.error(`outbox: could not persist a message: ${err.message}`));
    this.writes.add(p);
    void p.finally(() => this.writes.delete(p));
    return p;
  }

  /** Coalesces bursts of changes into one event per tick. */
  private changed(): void {
    if (this.changePending || this.disposed) return;
    this.changePending = true;
    setImmediate(() => {
      this.changePending = false;
      if (!this.disposed) this.changeEmitter.fire(this.rows);
    });
  }
}

/** Says who a lost DM was for, and where that session ran, so the user can tell two sessions of one member apart. */
function notDeliveredReason(row: OutboxRow): string {
  const r = row.recipient;
  const name = r?.name || row.targetLabel;
  const where = r && (r.cwd || r.hostname) ? ` (${[r.hostname, r.cwd].filter(Boolean).join(':')})` : '';
  return `The session of ${name}${where} it was for left before taking it. It waits at the broker in case that session comes back; or send it to another session of ${name}.`;
}

/** The wire `send` frame for a row (docs/protocol.md §4); the connection adds the request `id`. */
export function sendFrame(row: OutboxRow): Record<string, unknown> {
  return {
    type: 'send',
    targetSpec: row.targetSpec,
    priority: row.priority,
    nonce: row.nonce,
    ciphertext: row.ciphertext,
    client_message_id: row.clientMessageId,
    request_fingerprint: row.fingerprint,
  };
}
