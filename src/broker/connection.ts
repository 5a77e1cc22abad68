/**
 * One WebSocket to the broker: session_hello, reconnect with full-jitter backoff, ping watchdog, and the single
 * request/response mechanism every RPC goes through (an id per request, one timeout rule, fail fast on disconnect).
 */
import * as os from 'os';
import { performance } from 'perf_hooks';
import type { Duplex } from 'stream';
import WebSocket from 'ws';
import { mintAttestation, signSessionHello } from './crypto';
import { Emitter } from './events';
import { brokerUrlProblem } from './config';
import { BrokerError, closeFailure, correlationId, Frame, helloFailure, MAX_FRAME_BYTES, parseFrame } from './protocol';
import type { ConnectionState, JoinedMesh, Logger } from './types';

export interface Timing {
  /** Every request's reply deadline. */
  rpcTimeoutMs: number;
  helloTimeoutMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /**
   * While an outage is younger than `youngOutageMs`, the backoff is capped at `youngBackoffMaxMs` instead: most
   * outages are short (a broker restart, a network blip), and with a 30 s cap the first attempt after the broker is
   * back comes ~10 s later on average (the mean wait to the next of attempts spread uniformly over [0, cap) is cap/3).
   * The jitter stays full, so many clients still spread their attempts over the whole cap.
   */
  youngOutageMs: number;
  youngBackoffMaxMs: number;
  /** Connected this long without a drop resets the backoff. */
  stableAfterMs: number;
  /** The broker pings every 30 s; a socket silent for longer than this is dropped. */
  silenceLimitMs: number;
  watchdogIntervalMs: number;
  attestationTtlMs: number;
  /** A reply that comes this long after its request timed out is still handed to the request's `onLate`. */
  lateReplyGraceMs: number;
}

export const DEFAULT_TIMING: Timing = {
  rpcTimeoutMs: 10_000,
  helloTimeoutMs: 10_000,
  backoffBaseMs: 1_000,
  backoffMaxMs: 30_000,
  youngOutageMs: 120_000,
  youngBackoffMaxMs: 8_000,
  stableAfterMs: 30_000,
  silenceLimitMs: 75_000,
  watchdogIntervalMs: 15_000,
  attestationTtlMs: 12 * 3600_000,
  lateReplyGraceMs: 120_000,
};

export interface SessionKey {
  pubkey: string;
  secretKey: string;
}

export interface ConnectionOptions {
  mesh: JoinedMesh;
  /** This window's session keypair: stable per workspace so a reload reattaches, distinct per window. */
  sessionKey: SessionKey;
  sessionId: string;
  displayName?: string;
  /** Shown to every member; may be '' (the broker needs the field, not a path). */
  cwd: string;
  /** Shown to every member; defaults to os.hostname(), and '' sends none. */
  hostname?: string;
  channel?: string;
  peerType?: string;
  groups?: { name: string; role?: string }[];
  log?: Logger;
  timing?: Partial<Timing>;
  /** The largest frame the broker takes (§11); a bigger request is refused before it is written. */
  maxFrameBytes?: number;
}

export { BrokerError };

/** Full-jitter exponential backoff: uniform in [0, min(cap, base·2^attempt)). */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  return Math.floor(random() * Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30)));
}

/** A request over the broker's frame limit: refused before writing, so the socket and other requests are untouched. */
export class RequestTooLargeError extends BrokerError {
  constructor(
    readonly bytes: number,
    readonly limit: number,
    what: string,
  ) {
    super('too_large', `This ${what} is too large for the broker: ${formatKiB(bytes)} in one frame, and the broker accepts at most ${formatKiB(limit)}.`);
    this.name = 'RequestTooLargeError';
  }
}

function formatKiB(bytes: number): string {
  return bytes < 10_240 ? `${(bytes / 1024).toFixed(1)} KiB` : `${Math.ceil(bytes / 1024)} KiB`;
}

export interface RequestOptions {
  /** The field the broker echoes the id in: `_reqId`, or `id` for `send` (§4). */
  idField?: '_reqId' | 'id';
  /** Called with a reply that arrives after the timeout (within `lateReplyGraceMs`), e.g. a send ack. */
  onLate?: (frame: Frame) => void;
  /** What the request is, for the size-limit message ("skill", "memory"); default the frame type. */
  what?: string;
}

interface Pending {
  resolve(frame: Frame): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

interface Late {
  /** performance.now() after which a reply is no longer awaited at all. */
  until: number;
  onLate: (frame: Frame) => void;
}

/** A subscriber's exception is logged (one line, no payload), and never reaches the emitter or other subscribers. */
export function listenerFailed(log: () => Logger | undefined, what: string): (err: unknown) => void {
  return (err) => log()?.error(`a ${what} listener threw: ${err instanceof Error ? err.message : String(err)}`);
}

const noopLog: Logger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

export class BrokerConnection {
  private readonly timing: Timing;
  private readonly log: Logger;
  private ws: WebSocket | undefined;
  /** The socket under `ws` (from its upgrade response), corked while a tick's frames pile up. */
  private socket: Duplex | undefined;
  private corked = false;
  private current: ConnectionState = { kind: 'disconnected' };
  private wanted = false;
  private attempt = 0;
  /** When the connection last went down (undefined while connected): how young the outage is. */
  private downSince: number | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stableTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private helloTimer: NodeJS.Timeout | undefined;
  private lastHeard = 0;
  private nextRequestId = 1;
  private readonly pending = new Map<string, Pending>();
  /** Requests that timed out but whose reply would still be used; pruned as it grows. */
  private readonly late = new Map<string, Late>();
  private readonly maxFrameBytes: number;
  private reattaching = false;
  /** Set when the broker said why it is about to close the socket; read by the close handler. */
  private closeReason: { code?: string; message: string } | undefined;

  private readonly stateEmitter = new Emitter<ConnectionState>(listenerFailed(() => this.log, 'connection state'));
  private readonly frameEmitter = new Emitter<Frame>(listenerFailed(() => this.log, 'frame'));
  readonly onDidChangeState = this.stateEmitter.event;
  /** Every frame that is not a reply to one of our requests: pushes, state_change, stray acks, errors without an id. */
  readonly onFrame = this.frameEmitter.event;

  constructor(private readonly opts: ConnectionOptions) {
    this.timing = { ...DEFAULT_TIMING, ...opts.timing };
    this.log = opts.log ?? noopLog;
    this.maxFrameBytes = opts.maxFrameBytes ?? MAX_FRAME_BYTES;
  }

  get state(): ConnectionState {
    return this.current;
  }

  get isConnected(): boolean {
    return this.current.kind === 'connected';
  }

  start(): void {
    this.wanted = true;
    if (this.ws || this.retryTimer) return;
    const invalid = brokerUrlProblem(this.opts.mesh.brokerUrl);
    if (invalid) {
      this.setState({ kind: 'failed', code: 'bad_url', reason: `The broker URL ${invalid}.` });
      return;
    }
    this.open();
  }

  /** Drops any socket and connects again now, also out of a terminal failure. */
  restart(): void {
    this.stop();
    this.attempt = 0;
    this.start();
  }

  stop(): void {
    this.wanted = false;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const ws = this.ws;
    this.teardown(new BrokerError('disconnected', 'Disconnected from the mesh.'));
    if (ws) {
      ws.removeAllListeners();
      ws.on('error', () => {});
      ws.close(1000, 'client disconnect');
    }
    this.setState({ kind: 'disconnected' });
  }

  dispose(): void {
    this.stop();
    this.stateEmitter.dispose();
    this.frameEmitter.dispose();
  }

  /**
   * Sends a request and waits for the reply correlated by id (`_reqId`, or `id` for `send`). A broker `error`
   * reply rejects with a BrokerError. Fails at once when not connected or over the frame limit, and on disconnect.
   */
  request(payload: Record<string, unknown>, options: RequestOptions = {}): Promise<Frame> {
    if (!this.ws || this.current.kind !== 'connected') {
      return Promise.reject(new BrokerError('not_connected', 'Not connected to the mesh.'));
    }
    const id = `r${this.nextRequestId++}`;
    let text: string;
    try {
      text = this.serialize({ ...payload, [options.idField ?? '_reqId']: id }, options.what);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        if (options.onLate) this.awaitLate(id, options.onLate);
        reject(new BrokerError('timeout', `The broker did not answer "${String(payload.type)}" within ${Math.round(this.timing.rpcTimeoutMs / 1000)} s.`));
      }, this.timing.rpcTimeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.write(text).catch((err: Error) => {
        const entry = this.pending.get(id);
        if (!entry) return;
        clearTimeout(entry.timer);
        this.pending.delete(id);
        reject(err);
      });
    });
  }

  /** Sends a frame that has no reply on the wire; resolves once it is written to the socket. */
  post(payload: Record<string, unknown>, what?: string): Promise<void> {
    if (!this.ws || this.current.kind !== 'connected') {
      return Promise.reject(new BrokerError('not_connected', 'Not connected to the mesh.'));
    }
    try {
      return this.write(this.serialize(payload, what));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /**
   * Drops the socket and says session_hello again at once, without backoff: the broker reattaches the session
   * (same key, within its grace) and drains what it held back (§11: its only drain triggers are a hello, a DM to the
   * connection, or a hook). Waits (briefly) for requests in flight, so their replies are not lost with the socket;
   * resolves once the new socket is connected (or has failed).
   */
  async reattach(): Promise<void> {
    if (this.current.kind !== 'connected' || this.reattaching) return;
    this.reattaching = true;
    try {
      const deadline = performance.now() + 2_000;
      while (this.pending.size > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      const ws = this.ws;
      if (!ws || this.current.kind !== 'connected' || !this.wanted) return;
      this.log.debug(`${this.opts.mesh.slug}: reattaching so the broker drains held messages`);
      this.teardown(new BrokerError('disconnected', 'The connection was renewed; try again.'));
      ws.removeAllListeners();
      ws.on('error', () => {});
      ws.close(1000, 'reattach');
      const settled = new Promise<void>((resolve) => {
        const sub = this.stateEmitter.event((state) => {
          if (state.kind === 'connecting') return;
          sub.dispose();
          resolve();
        });
      });
      this.open();
      await settled;
    } finally {
      this.reattaching = false;
    }
  }

  /** JSON for one frame, refused before anything is written when it exceeds the broker's frame limit (§11). */
  private serialize(payload: Record<string, unknown>, what?: string): string {
    const text = JSON.stringify(payload);
    // Byte length is at most 3× the UTF-16 length, so most frames skip the exact count.
    if (text.length * 3 > this.maxFrameBytes) {
      const bytes = Buffer.byteLength(text);
      if (bytes > this.maxFrameBytes) throw new RequestTooLargeError(bytes, this.maxFrameBytes, what ?? `"${String(payload.type)}" request`);
    }
    return text;
  }

  private awaitLate(id: string, onLate: (frame: Frame) => void): void {
    const now = performance.now();
    if (this.late.size >= 1_000) for (const [key, l] of this.late) if (l.until < now) this.late.delete(key);
    this.late.set(id, { until: now + this.timing.lateReplyGraceMs, onLate });
  }

  private write(text: string): Promise<void> {
    const ws = this.ws;
    return new Promise((resolve, reject) => {
      if (!ws || ws.readyState !== WebSocket.OPEN) {
        reject(new BrokerError('not_connected', 'Not connected to the mesh.'));
        return;
      }
      this.batchWritesThisTick();
      ws.send(text, (err) => (err ? reject(new BrokerError('write_failed', `Could not write to the broker: ${err.message}`)) : resolve()));
    });
  }

  /**
   * Frames written in one tick (the sends after a batch of acks, the acks for a batch of pushes) leave in one system
   * call instead of one each; at thousands of messages a second the calls, not the bytes, are what costs.
   */
  private batchWritesThisTick(): void {
    const socket = this.socket;
    if (!socket || this.corked) return;
    this.corked = true;
    socket.cork();
    process.nextTick(() => {
      this.corked = false;
      socket.uncork();
    });
  }

  private open(): void {
    this.closeReason = undefined;
    this.setState({ kind: 'connecting', attempt: this.attempt });
    const ws = new WebSocket(this.opts.mesh.brokerUrl, { maxPayload: 16 * 1024 * 1024, handshakeTimeout: this.timing.helloTimeoutMs });
    this.ws = ws;
    this.lastHeard = performance.now();
    ws.on('upgrade', (response) => (this.socket = response.socket));
    ws.on('open', () => this.sendHello(ws));
    ws.on('message', (data) => this.onMessage(ws, data));
    ws.on('ping', () => (this.lastHeard = performance.now()));
    ws.on('pong', () => (this.lastHeard = performance.now()));
    ws.on('error', (err) => {
      this.log.debug(`${this.opts.mesh.slug}: socket error: ${err.message}`);
      this.closeReason ??= { message: err.message };
    });
    ws.on('close', (code, reason) => this.onClose(ws, code, reason.toString()));
    clearInterval(this.watchdog);
    this.watchdog = setInterval(() => {
      if (performance.now() - this.lastHeard > this.timing.silenceLimitMs) {
        this.log.warn(`${this.opts.mesh.slug}: no traffic from the broker for ${Math.round(this.timing.silenceLimitMs / 1000)} s; dropping the socket`);
        this.closeReason = { message: 'the broker stopped answering' };
        ws.terminate();
      }
    }, this.timing.watchdogIntervalMs);
  }

  private sendHello(ws: WebSocket): void {
    const { mesh, sessionKey } = this.opts;
    const now = Date.now();
    // The attestation is re-minted at every connect, so a long-lived window never presents an expired one.
    const parentAttestation = mintAttestation(mesh.pubkey, mesh.secretKey, sessionKey.pubkey, now + this.timing.attestationTtlMs);
    const hello: Record<string, unknown> = {
      type: 'session_hello',
      meshId: mesh.meshId,
      parentMemberId: mesh.memberId,
      parentMemberPubkey: mesh.pubkey,
      sessionPubkey: sessionKey.pubkey,
      parentAttestation,
      sessionId: this.opts.sessionId,
      pid: process.pid,
      cwd: this.opts.cwd,
      peerType: this.opts.peerType ?? 'human',
      channel: this.opts.channel ?? 'claudemesh-vscode',
      timestamp: now,
      signature: signSessionHello(mesh.meshId, mesh.pubkey, sessionKey.pubkey, sessionKey.secretKey, now),
    };
    const hostname = this.opts.hostname ?? os.hostname();
    if (hostname) hello.hostname = hostname;
    if (this.opts.displayName) hello.displayName = this.opts.displayName;
    if (this.opts.groups?.length) hello.groups = this.opts.groups;
    ws.send(JSON.stringify(hello));
    this.helloTimer = setTimeout(() => {
      this.closeReason = { message: `no hello_ack within ${Math.round(this.timing.helloTimeoutMs / 1000)} s` };
      ws.terminate();
    }, this.timing.helloTimeoutMs);
  }

  private onMessage(ws: WebSocket, data: WebSocket.RawData): void {
    if (ws !== this.ws) return;
    this.lastHeard = performance.now();
    const parsed = parseFrame(data);
    const slug = this.opts.mesh.slug;
    if (!parsed.ok) {
      // A reply we cannot read still answers its request: fail it now rather than at the timeout.
      const entry = parsed.reqId === undefined ? undefined : this.pending.get(parsed.reqId);
      this.log.warn(`${slug}: ignored a frame from the broker: ${parsed.reason}`);
      if (entry && parsed.reqId !== undefined) {
        clearTimeout(entry.timer);
        this.pending.delete(parsed.reqId);
        entry.reject(new BrokerError('bad_reply', `The broker's reply could not be read (${parsed.reason}).`));
      }
      return;
    }
    for (const note of parsed.notes) this.log[note.level](`${slug}: ${note.text}`);
    const frame = parsed.frame;
    if (this.current.kind !== 'connected') {
      this.onHandshakeFrame(frame);
      return;
    }
    const id = correlationId(frame);
    const entry = id === undefined ? undefined : this.pending.get(id);
    if (entry && id !== undefined) {
      clearTimeout(entry.timer);
      this.pending.delete(id);
      if (frame.type === 'error') entry.reject(BrokerError.refused(frame.code, frame.message || frame.code));
      else entry.resolve(frame);
      return;
    }
    const late = id === undefined ? undefined : this.late.get(id);
    if (late && id !== undefined) {
      this.late.delete(id);
      if (late.until >= performance.now()) {
        this.log.debug(`${slug}: a reply to ${id} came after its timeout; applying it`);
        late.onLate(frame);
        return;
      }
    }
    if (frame.type === 'error') {
      this.log.warn(`${slug}: broker error ${frame.code}: ${frame.message}`);
      // A ban arrives on a live socket as an error frame just before the close; keep its words for the close handler.
      if (helloFailure(frame.code, frame.message).kind !== 'retry') this.closeReason = { code: frame.code, message: frame.message };
    }
    this.frameEmitter.fire(frame);
  }

  private onHandshakeFrame(frame: Frame): void {
    if (frame.type === 'hello_ack') {
      clearTimeout(this.helloTimer);
      this.downSince = undefined;
      this.setState({ kind: 'connected', presenceId: frame.presenceId, displayName: frame.memberDisplayName });
      clearTimeout(this.stableTimer);
      this.stableTimer = setTimeout(() => (this.attempt = 0), this.timing.stableAfterMs);
      return;
    }
    if (frame.type === 'error') {
      // The broker sends the reason, then closes; the close handler acts on it.
      this.closeReason = { code: frame.code, message: frame.message };
      this.log.warn(`${this.opts.mesh.slug}: hello rejected: ${frame.code}: ${frame.message}`);
      return;
    }
    this.log.debug(`${this.opts.mesh.slug}: ignored a "${frame.type}" frame before hello_ack`);
  }

  private onClose(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.ws) return;
    const told = this.closeReason;
    this.teardown(new BrokerError('disconnected', 'The connection to the broker was lost.'));
    const failure = closeFailure(told, code, reason);
    this.log.info(`${this.opts.mesh.slug}: connection closed (${code}${reason ? ' ' + reason : ''}): ${failure.reason}`);
    if (!this.wanted) {
      this.setState({ kind: 'disconnected' });
      return;
    }
    if (failure.kind === 'terminal') {
      this.wanted = false;
      this.setState({ kind: 'failed', code: failure.code, reason: failure.reason });
      return;
    }
    // Monotonic, like every other duration here: a wall-clock step must not make a young outage look old.
    this.downSince ??= performance.now();
    const young = performance.now() - this.downSince < this.timing.youngOutageMs;
    let delay = backoffDelay(this.attempt, this.timing.backoffBaseMs, young ? Math.min(this.timing.youngBackoffMaxMs, this.timing.backoffMaxMs) : this.timing.backoffMaxMs);
    if (failure.kind === 'slow') delay = Math.max(delay, failure.minDelayMs);
    this.attempt++;
    this.setState({ kind: 'reconnecting', attempt: this.attempt, retryAt: Date.now() + delay, lastError: failure.reason });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.wanted) this.open();
    }, delay);
  }

  /** Forgets the socket and fails every pending request at once. */
  private teardown(reason: Error): void {
    clearTimeout(this.helloTimer);
    clearTimeout(this.stableTimer);
    clearInterval(this.watchdog);
    this.watchdog = undefined;
    this.ws = undefined;
    this.socket = undefined;
    this.late.clear();
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const entry of pending) {
      clearTimeout(entry.timer);
      entry.reject(reason);
    }
  }

  private setState(state: ConnectionState): void {
    this.current = state;
    this.stateEmitter.fire(state);
  }
}
