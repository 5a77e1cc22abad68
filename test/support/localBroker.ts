/**
 * An in-process claudemesh broker for tests and the demo, faithful to docs/protocol.md: same upgrade path,
 * frames, codes, messages, close codes and reply shapes as the real broker's handlers. Its "database" (members,
 * queue rows, state, memories, skills, invites) survives stop()/start(), which simulate a crash and restart.
 * Always binds 127.0.0.1.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import nacl from 'tweetnacl';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { PeerGroup } from '../../src/broker/types';
import { BrokerContext, BrokerStats, ResolvedOptions } from './broker/context';
import { BrokerDatabase } from './broker/database';
import { handleMemberHello, handleSessionHello, removedFromMeshMessage, SocketSession } from './broker/handshake';
import { handleHttpRequest } from './broker/http';
import { handleClientAck, handleSend, releaseExpiredLeases } from './broker/messaging';
import { encodeInviteToken, isRecord, LOWER_HEX_64, randomBase62 } from './broker/primitives';
import { requestHandlers } from './broker/requests';

export interface LocalBrokerOptions {
  /** 0 = ephemeral (default). Always bound on 127.0.0.1. */
  port?: number;
  /** Per-member send bucket; default {burst:10, perMinute:60}; false = off. */
  rateLimit?: { burst: number; perMinute: number } | false;
  /** DM claim lease, default 30 000. */
  leaseMs?: number;
  /** Lease sweeper period, default 15 000. */
  leaseSweepMs?: number;
  /** Offline grace after a WS close, default 90 000. */
  graceMs?: number;
  /** WS protocol ping period, default 30 000. */
  pingIntervalMs?: number;
  /** Terminate after this long without a pong, default 75 000. */
  staleMs?: number;
  /** WS frame and HTTP body limit, default 65 536. */
  maxPayload?: number;
  /**
   * true (default): a frame over maxPayload closes the socket with 1009, as the broker does under Node. false: it is
   * accepted, as under Bun, the deployed runtime (§11); the `send` size check applies either way.
   */
  enforceMaxPayload?: boolean;
  /**
   * Each frame is handled after a random delay in [0, frameDelayMs), so frames from one socket can be handled out of
   * order, as by the real broker's concurrent handlers (§11). Default 3; 0 = in order (benchmarks).
   */
  frameDelayMs?: number;
  /** set_status/set_summary take effect this long after they arrive, so a list_peers right after still shows the old value (§11). Default 15. */
  statusLagMs?: number;
  /** Accepted hello clock skew, default 60 000. */
  helloSkewMs?: number;
  /** Default 100, counting grace connections. */
  maxConnectionsPerMesh?: number;
  log?: (line: string) => void;
}

export interface MeshRecord {
  meshId: string;
  slug: string;
  name: string;
  ownerPubkey: string;
  ownerSecretKey: string;
}

export interface MemberRecord {
  meshId: string;
  memberId: string;
  pubkey: string;
  displayName: string;
  groups: { name: string; role?: string }[];
  revoked: boolean;
}

export interface LocalBroker {
  readonly port: number;
  /** ws://127.0.0.1:<port>/ws */
  readonly url: string;
  /** http://127.0.0.1:<port> */
  readonly httpUrl: string;
  /** Generates a 32-char base62 id and an owner keypair unless given. */
  addMesh(opts?: { meshId?: string; slug?: string; name?: string }): MeshRecord;
  addMember(
    meshId: string,
    opts: { pubkey: string; displayName: string; memberId?: string; groups?: { name: string; role?: string }[] },
  ): MemberRecord;
  /** Marks the member revoked and closes its connections: error `revoked`, then close 4002 `banned`. */
  revoke(meshId: string, pubkey: string): void;
  /** Closes the live connections of this member (or session) key with 4001. */
  kick(meshId: string, pubkey: string): void;
  /** A POST to the mesh's webhook `name`: pushed to every open connection of the mesh; returns how many. */
  webhook(meshId: string, name: string, data: Record<string, unknown>): number;
  createInvite(
    meshId: string,
    opts?: { code?: string; expiresAt?: number; role?: 'admin' | 'member'; maxUses?: number },
  ): { token: string; code: string };
  /** Simulated crash: sockets terminated, listener closed; the database is kept. */
  stop(): Promise<void>;
  /** Listens again on the same port, with no live presences. */
  start(): Promise<void>;
  /** Stops for good. */
  close(): Promise<void>;
  readonly stats: BrokerStats;
  /** Helloed connections, online or in the offline grace (what the capacity check counts). */
  connectionCount(meshId?: string): number;
}

const DEFAULTS: ResolvedOptions = {
  port: 0,
  rateLimit: { burst: 10, perMinute: 60 },
  leaseMs: 30_000,
  leaseSweepMs: 15_000,
  graceMs: 90_000,
  pingIntervalMs: 30_000,
  staleMs: 75_000,
  maxPayload: 65_536,
  enforceMaxPayload: true,
  frameDelayMs: 3,
  statusLagMs: 15,
  helloSkewMs: 60_000,
  maxConnectionsPerMesh: 100,
  log: () => undefined,
};

export async function startLocalBroker(opts: LocalBrokerOptions = {}): Promise<LocalBroker> {
  const defined = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
  const broker = new InProcessBroker({ ...DEFAULTS, ...defined });
  await broker.start();
  return broker;
}

class InProcessBroker implements LocalBroker {
  readonly stats: BrokerStats = { framesIn: 0, sends: 0, sendAcks: 0, clientAcks: 0, pushes: 0, rateLimited: 0, connectionsOpened: 0 };
  private readonly db = new BrokerDatabase();
  private readonly ctx: BrokerContext;
  private readonly wss: WebSocketServer;
  private readonly sockets = new Set<SocketSession>();
  private server: Server | undefined;
  private timers: NodeJS.Timeout[] = [];
  private boundPort: number;
  private closed = false;

  constructor(private readonly options: ResolvedOptions) {
    this.ctx = new BrokerContext(options, this.db, this.stats);
    this.boundPort = options.port;
    this.wss = new WebSocketServer({ noServer: true, maxPayload: options.enforceMaxPayload ? options.maxPayload : 64 * 1024 * 1024 });
    this.wss.on('connection', (ws) => this.onConnection(ws));
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.boundPort}/ws`;
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.boundPort}`;
  }

  async start(): Promise<void> {
    if (this.closed) throw new Error('LocalBroker.start: this broker was closed; start a new one with startLocalBroker()');
    if (this.server) return;
    const server = createServer((req, res) => handleHttpRequest(this.ctx, req, res));
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      // Exactly `/ws`: any other path, a query string included, gets the socket destroyed.
      if (req.url !== '/ws') return void socket.destroy();
      this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.boundPort, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.boundPort = (server.address() as AddressInfo).port;
    this.timers = [
      setInterval(() => this.pingAll(), this.options.pingIntervalMs),
      setInterval(() => releaseExpiredLeases(this.ctx), this.options.leaseSweepMs),
    ];
    this.ctx.log(`listening on ${this.url}`);
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.timers.forEach(clearInterval);
    this.timers = [];
    // Forget presences before the sockets die so their close events start no grace and save no peer state.
    for (const p of this.ctx.presences.values()) clearTimeout(p.graceTimer);
    this.ctx.presences.clear();
    this.ctx.buckets?.clear();
    for (const session of this.sockets) session.ws.terminate();
    this.sockets.clear();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    this.ctx.log('stopped');
  }

  async close(): Promise<void> {
    await this.stop();
    this.closed = true;
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  connectionCount(meshId?: string): number {
    return meshId === undefined ? this.ctx.presences.size : this.ctx.meshPresences(meshId).length;
  }

  addMesh(opts: { meshId?: string; slug?: string; name?: string } = {}): MeshRecord {
    const meshId = opts.meshId ?? randomBase62(32);
    if (this.db.meshes.has(meshId)) throw new Error(`addMesh: mesh "${meshId}" already exists; pass another meshId or omit it`);
    const slug = opts.slug ?? `mesh-${meshId.slice(0, 6).toLowerCase()}`;
    const owner = nacl.sign.keyPair();
    const row = {
      meshId,
      slug,
      name: opts.name ?? slug,
      ownerPubkey: Buffer.from(owner.publicKey).toString('hex'),
      ownerSecretKey: Buffer.from(owner.secretKey).toString('hex'),
      rootKey: Buffer.from(nacl.randomBytes(32)).toString('base64url'),
    };
    this.db.meshes.set(meshId, row);
    return { meshId, slug, name: row.name, ownerPubkey: row.ownerPubkey, ownerSecretKey: row.ownerSecretKey };
  }

  addMember(
    meshId: string,
    opts: { pubkey: string; displayName: string; memberId?: string; groups?: PeerGroup[] },
  ): MemberRecord {
    if (!this.db.meshes.has(meshId)) throw new Error(`addMember: unknown mesh "${meshId}"; create it with addMesh() first`);
    if (!LOWER_HEX_64.test(opts.pubkey)) {
      throw new Error(`addMember: pubkey must be 64 lowercase hex chars (an Ed25519 public key), got "${opts.pubkey}"`);
    }
    if (this.db.liveMember(meshId, opts.pubkey)) {
      throw new Error(`addMember: pubkey ${opts.pubkey.slice(0, 12)}… is already a member of mesh "${meshId}"`);
    }
    const row = {
      meshId,
      memberId: opts.memberId ?? randomBase62(32),
      pubkey: opts.pubkey,
      displayName: opts.displayName,
      groups: (opts.groups ?? []).map((g) => ({ ...g })),
      revoked: false,
      role: 'member' as const,
      roleTag: null,
      messageMode: 'push',
    };
    this.db.members.push(row);
    return memberRecord(row);
  }

  revoke(meshId: string, pubkey: string): void {
    const member = this.db.liveMember(meshId, pubkey);
    if (!member) throw new Error(`revoke: no live member with pubkey ${pubkey.slice(0, 12)}… in mesh "${meshId}"`);
    member.revoked = true;
    const message = removedFromMeshMessage(this.ctx, meshId);
    for (const p of this.ctx.meshPresences(meshId)) {
      if (p.memberId !== member.memberId) continue;
      this.ctx.dropPresence(p);
      this.ctx.sendFrame(p.ws, { type: 'error', code: 'revoked', message });
      p.ws?.close(4002, 'banned');
    }
  }

  /**
   * What the real broker does with a POST to /hook/<meshId>/<secret> of a webhook named `name` (its webhooks.ts):
   * one push, subtype "webhook", with the name as `event` and the POSTed JSON as `eventData`, to every open
   * connection of the mesh. Returns how many got it.
   */
  webhook(meshId: string, name: string, data: Record<string, unknown>): number {
    const push = {
      type: 'push',
      subtype: 'webhook',
      event: name,
      eventData: data,
      messageId: randomUUID(),
      meshId,
      senderPubkey: `webhook:${name}`,
      priority: 'next',
      nonce: '',
      ciphertext: '',
      createdAt: new Date().toISOString(),
    };
    let delivered = 0;
    for (const p of this.ctx.meshPresences(meshId)) if (this.ctx.sendFrame(p.ws, push)) delivered++;
    return delivered;
  }

  kick(meshId: string, pubkey: string): void {
    for (const p of this.ctx.meshPresences(meshId)) {
      if (p.ws === null || (p.memberPubkey !== pubkey && p.sessionPubkey !== pubkey)) continue;
      this.ctx.dropPresence(p);
      p.ws.close(4001, 'kicked');
    }
  }

  createInvite(
    meshId: string,
    opts: { code?: string; expiresAt?: number; role?: 'admin' | 'member'; maxUses?: number } = {},
  ): { token: string; code: string } {
    const mesh = this.db.meshes.get(meshId);
    if (!mesh) throw new Error(`createInvite: unknown mesh "${meshId}"; create it with addMesh() first`);
    const code = opts.code ?? randomBase62(8);
    if (this.db.invites.some((i) => i.code === code)) throw new Error(`createInvite: invite code "${code}" is already taken`);
    const expiresAt = opts.expiresAt ?? Math.floor(Date.now() / 1000) + 7 * 24 * 3600;
    const role = opts.role ?? 'member';
    const token = encodeInviteToken(
      {
        v: 1,
        mesh_id: mesh.meshId,
        mesh_slug: mesh.slug,
        broker_url: this.url,
        expires_at: expiresAt,
        mesh_root_key: mesh.rootKey,
        role,
        owner_pubkey: mesh.ownerPubkey,
      },
      mesh.ownerSecretKey,
    );
    this.db.invites.push({ token, code, meshId, role, expiresAt, maxUses: opts.maxUses ?? null, usedCount: 0, revoked: false });
    return { token, code };
  }

  private onConnection(ws: WebSocket): void {
    this.stats.connectionsOpened++;
    const session: SocketSession = { ws, presenceId: null, lastPongAt: Date.now() };
    this.sockets.add(session);
    ws.on('pong', () => (session.lastPongAt = Date.now()));
    ws.on('message', (data: RawData) => {
      const delay = this.options.frameDelayMs > 0 ? Math.random() * this.options.frameDelayMs : 0;
      if (delay < 0.5) this.onFrame(session, data);
      else setTimeout(() => this.onFrame(session, data), delay);
    });
    ws.on('error', (e) => this.ctx.log(`socket error: ${e.message}`));
    ws.on('close', () => {
      this.sockets.delete(session);
      for (const p of this.ctx.presences.values()) if (p.ws === ws) this.ctx.beginGrace(p);
    });
  }

  private onFrame(session: SocketSession, data: RawData): void {
    this.stats.framesIn++;
    let msg: unknown;
    try {
      msg = JSON.parse(data.toString());
    } catch {
      return; // invalid JSON: no reply, like the real broker
    }
    if (!isRecord(msg)) return;
    try {
      this.dispatch(session, msg);
    } catch (e) {
      // A handler exception produces no reply on the real broker either.
      this.ctx.log(`handler error on ${String(msg.type)}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private dispatch(session: SocketSession, msg: Record<string, unknown>): void {
    if (msg.type === 'hello') return handleMemberHello(this.ctx, session, msg);
    if (msg.type === 'session_hello') return handleSessionHello(this.ctx, session, msg);
    if (!session.presenceId) {
      this.ctx.sendFrame(session.ws, { type: 'error', code: 'no_hello', message: 'must send hello first' });
      return;
    }
    const presence = this.ctx.presences.get(session.presenceId);
    if (!presence || presence.ws !== session.ws) return;
    if (msg.type === 'send') return handleSend(this.ctx, presence, msg);
    if (msg.type === 'client_ack') return handleClientAck(this.ctx, presence, msg);
    const handler = typeof msg.type === 'string' ? requestHandlers.get(msg.type) : undefined;
    handler?.(this.ctx, presence, msg); // unknown type: no reply
  }

  /** Protocol-level heartbeat: ping everyone, terminate whoever has not ponged for longer than staleMs. */
  private pingAll(): void {
    const now = Date.now();
    for (const session of this.sockets) {
      if (now - session.lastPongAt > this.options.staleMs) {
        this.ctx.log('terminating a socket that stopped answering pings');
        session.ws.terminate();
      } else if (session.ws.readyState === WebSocket.OPEN) {
        session.ws.ping();
      }
    }
  }
}

function memberRecord(row: MemberRecord): MemberRecord {
  return { meshId: row.meshId, memberId: row.memberId, pubkey: row.pubkey, displayName: row.displayName, groups: row.groups, revoked: row.revoked };
}
