/**
 * The durable outbox. Every row is its own store record, so persisting one change costs the same at any queue depth.
 * Bodies are encrypted once, at enqueue; retries resend identical bytes under the same client_message_id, and the
 * receiver dedupes on it. A drain worker sends rows in order, paced to the broker's per-member rate limit.
 */
import { randomUUID } from 'crypto';
import { BrokerError } from './connection';
import { Emitter } from './events';
import { classifySendError, MAX_SEND_FRAME_BYTES } from './protocol';
import type { KeyValueStore } from './store';
import type { Logger, OutboxRow } from './types';

export interface SendAck {
  messageId: string;
  queued: boolean;
  error?: string;
}

export interface OutboxTransport {
  readonly connected: boolean;
  send(frame: Record<string, unknown>): Promise<SendAck>;
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
  /** Sends awaiting their ack at once. */
  maxInFlight?: number;
  /** Sent rows kept for the conversation view; older ones are deleted. */
  keepSent?: number;
  /** Transient failures (timeouts, unknown broker errors) before a row fails; disconnects do not count. */
  maxAttempts?: number;
}

export class MessageTooLargeError extends Error {
  constructor(bytes: number) {
    super(`This message is too large to send (${Math.ceil(bytes / 1024)} KB once encrypted; the broker accepts about ${Math.floor(MAX_SEND_FRAME_BYTES / 1024)} KB). Shorten it or share it as a file or skill.`);
    this.name = 'MessageTooLargeError';
  }
}

/** What the caller decides about a row; the outbox fills in ids, status and timing. */
export type EnqueueRequest = Pick<OutboxRow, 'targetSpec' | 'targetLabel' | 'priority' | 'nonce' | 'ciphertext' | 'text' | 'fingerprint'>;

const RATE_LIMIT_DEFAULT: RateLimit = { burst: 10, perMinute: 60 };

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
  private last = Date.now();
  private readonly msPerToken: number;
  constructor(private readonly limit: RateLimit) {
    this.tokens = limit.burst;
    this.msPerToken = 60_000 / limit.perMinute / 0.95 + 20;
  }
  private refill(): void {
    const now = Date.now();
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
  /** Rows waiting to be sent, in seq order. */
  private queue: OutboxRow[] = [];
  /** Sent rows, oldest first, so pruning never scans the whole outbox. */
  private sentInOrder: OutboxRow[] = [];
  /** DMs waiting for their recipient to come online. */
  private readonly held = new Set<OutboxRow>();
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
  private readonly log: Logger | undefined;

  private readonly changeEmitter = new Emitter<readonly OutboxRow[]>();
  readonly onDidChange = this.changeEmitter.event;

  constructor(private readonly opts: OutboxOptions) {
    this.prefix = `claudemesh.outbox/${opts.meshId}/`;
    this.holdExpiryMs = opts.holdExpiryMs ?? 24 * 3600_000;
    this.maxInFlight = opts.maxInFlight ?? 32;
    this.keepSent = opts.keepSent ?? 500;
    this.maxAttempts = opts.maxAttempts ?? 25;
    this.log = opts.log;
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
      // A row caught mid-send by a crash or reload is resent under the same client_message_id; the receiver dedupes.
      if (row.status === 'sending') row.status = 'queued';
      loaded.push(row);
    }
    loaded.sort((a, b) => a.seq - b.seq);
    for (const row of loaded) {
      this.rowsById.set(row.clientMessageId, row);
      this.nextSeq = row.seq + 1;
    }
    this.queue = loaded.filter((r) => r.status === 'queued');
    for (const row of loaded) if (row.status === 'held') this.held.add(row);
    this.sentInOrder = loaded.filter((r) => r.status === 'sent').sort((a, b) => (a.sentAt ?? 0) - (b.sentAt ?? 0));
  }

  /** Persists the row, then returns it. Throws MessageTooLargeError when it could never fit in one frame. */
  async enqueue(req: EnqueueRequest): Promise<OutboxRow> {
    const clientMessageId = randomUUID();
    const bytes = Buffer.byteLength(JSON.stringify(sendFrame({ ...req, clientMessageId } as OutboxRow)));
    if (bytes > MAX_SEND_FRAME_BYTES) throw new MessageTooLargeError(bytes);
    const now = Date.now();
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
      nextAttemptAt: now,
      createdAt: now,
    };
    this.rowsById.set(clientMessageId, row);
    await this.persist(row);
    this.queue.push(row);
    this.changed();
    this.pump();
    return row;
  }

  /** Wakes the drain worker; after a (re)connect every waiting row is due at once. */
  kick(afterConnect = false): void {
    if (afterConnect) for (const row of this.queue) row.nextAttemptAt = Math.min(row.nextAttemptAt, Date.now());
    this.pump();
  }

  /** A peer was seen online: its held DMs go back to the queue. */
  peerSeen(pubkeys: Iterable<string>): void {
    const seen = new Set(pubkeys);
    let any = false;
    for (const row of [...this.held]) {
      if (seen.has(row.targetSpec)) {
        this.requeue(row, Date.now());
        any = true;
      }
    }
    if (any) this.pump();
  }

  async retry(clientMessageId: string): Promise<void> {
    const row = this.rowsById.get(clientMessageId);
    if (!row || (row.status !== 'failed' && row.status !== 'held')) return;
    row.attempts = 0;
    delete row.heldSince;
    this.requeue(row, Date.now());
    await this.flush();
    this.pump();
  }

  async retryFailed(): Promise<number> {
    const failed = [...this.rowsById.values()].filter((r) => r.status === 'failed');
    for (const row of failed) await this.retry(row.clientMessageId);
    return failed.length;
  }

  async discard(clientMessageId: string): Promise<void> {
    const row = this.rowsById.get(clientMessageId);
    if (!row || row.status === 'sending') return;
    this.rowsById.delete(clientMessageId);
    this.held.delete(row);
    this.queue = this.queue.filter((r) => r !== row);
    await this.remove(row);
    this.changed();
  }

  /** Resolves when every store write started so far has finished. */
  async flush(): Promise<void> {
    while (this.writes.size) await Promise.all([...this.writes]);
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.wakeTimer);
    this.changeEmitter.dispose();
  }

  private pump(): void {
    if (this.disposed || !this.opts.transport.connected) return;
    clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    this.expireHeld();
    const now = Date.now();
    let wakeAt = Infinity;
    for (let i = 0; i < this.queue.length && this.inFlight < this.maxInFlight; ) {
      const row = this.queue[i];
      if (row.nextAttemptAt > now) {
        wakeAt = Math.min(wakeAt, row.nextAttemptAt);
        i++;
        continue;
      }
      if (this.bucket && !this.bucket.take()) {
        wakeAt = Math.min(wakeAt, now + this.bucket.msUntilToken());
        break;
      }
      this.queue.splice(i, 1);
      this.sendRow(row);
    }
    if (this.hasHeld()) wakeAt = Math.min(wakeAt, now + 60_000);
    if (wakeAt !== Infinity) this.wakeTimer = setTimeout(() => this.pump(), Math.max(1, wakeAt - now));
  }

  private sendRow(row: OutboxRow): void {
    this.inFlight++;
    row.status = 'sending';
    row.attempts++;
    void this.persist(row);
    this.changed();
    this.opts.transport.send(sendFrame(row)).then(
      (ack) => this.onAck(row, ack),
      (err: Error) => this.onSendFailed(row, err),
    ).finally(() => {
      this.inFlight--;
      this.pump();
    });
  }

  private onAck(row: OutboxRow, ack: SendAck): void {
    if (!this.rowsById.has(row.clientMessageId)) return;
    if (!ack.error) {
      row.status = 'sent';
      row.sentAt = Date.now();
      row.brokerMessageId = ack.messageId;
      delete row.lastError;
      delete row.heldSince;
      void this.persist(row);
      this.sentInOrder.push(row);
      this.pruneSent();
      this.changed();
      return;
    }
    switch (classifySendError(ack.error)) {
      case 'rate_limit':
        // Not the message's fault: it waits for a token and goes out first.
        row.attempts--;
        this.bucket?.drain();
        this.requeue(row, Date.now() + (this.bucket?.msUntilToken() ?? 1_000));
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

  private onSendFailed(row: OutboxRow, err: Error): void {
    if (!this.rowsById.has(row.clientMessageId)) return;
    const disconnected = err instanceof BrokerError && (err.code === 'disconnected' || err.code === 'not_connected' || err.code === 'write_failed');
    this.transient(row, err.message, !disconnected);
  }

  private transient(row: OutboxRow, reason: string, counts: boolean): void {
    if (!counts) row.attempts--;
    if (row.attempts >= this.maxAttempts) {
      this.fail(row, `gave up after ${row.attempts} attempts: ${reason}`);
      return;
    }
    row.lastError = reason;
    this.requeue(row, Date.now() + retryDelayMs(row.attempts));
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
    // Keep the queue in seq order so a retried row goes out before newer ones.
    let i = this.queue.length;
    while (i > 0 && this.queue[i - 1].seq > row.seq) i--;
    if (this.queue[i - 1] !== row) this.queue.splice(i, 0, row);
    this.changed();
  }

  private expireHeld(): void {
    const now = Date.now();
    for (const row of [...this.held]) {
      if (row.heldSince !== undefined && now - row.heldSince > this.holdExpiryMs) {
        this.fail(row, `The recipient did not come back online within ${Math.round(this.holdExpiryMs / 3600_000) || '<1'} h.`);
      }
    }
  }

  private pruneSent(): void {
    while (this.sentInOrder.length > this.keepSent) {
      const row = this.sentInOrder.shift()!;
      if (this.rowsById.get(row.clientMessageId) !== row || row.status !== 'sent') continue;
      this.rowsById.delete(row.clientMessageId);
      void this.remove(row);
    }
  }

  private keyOf(row: OutboxRow): string {
    return this.prefix + String(row.seq).padStart(12, '0');
  }

  private persist(row: OutboxRow): Promise<void> {
    return this.track(this.opts.store.update(this.keyOf(row), row));
  }

  private remove(row: OutboxRow): Promise<void> {
    return this.track(this.opts.store.update(this.keyOf(row), undefined));
  }

  private track(write: PromiseLike<void>): Promise<void> {
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
