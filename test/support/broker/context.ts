/**
 * Live (in-memory) side of the local broker: connections ("presences"), frame sending, system pushes and the
 * offline grace. Everything here is lost on a simulated restart; the BrokerDatabase is not.
 */
import { randomUUID } from 'node:crypto';
import { WebSocket } from 'ws';
import type { PeerGroup, PeerProfile, PeerRole, PeerStatus } from '../../../src/broker/types';
import type { BrokerDatabase, SessionStats } from './database';
import { TokenBuckets } from './primitives';

export interface ResolvedOptions {
  port: number;
  rateLimit: { burst: number; perMinute: number } | false;
  leaseMs: number;
  leaseSweepMs: number;
  graceMs: number;
  pingIntervalMs: number;
  staleMs: number;
  maxPayload: number;
  enforceMaxPayload: boolean;
  frameDelayMs: number;
  statusLagMs: number;
  helloSkewMs: number;
  maxConnectionsPerMesh: number;
  log: (line: string) => void;
}

export interface BrokerStats {
  framesIn: number;
  sends: number;
  sendAcks: number;
  clientAcks: number;
  /** Message deliveries: queued pushes (shape a) plus live multicast pushes (shape b); system events not counted. */
  pushes: number;
  rateLimited: number;
  connectionsOpened: number;
}

/** What a hello says about the client process. */
export interface ClientInfo {
  sessionId: string;
  pid: number;
  cwd: string;
  /** Copied from the hello with no type check, and listed as is: the real broker does the same (§11). */
  hostname?: unknown;
  peerType?: unknown;
  channel?: unknown;
  model?: unknown;
}

/** One helloed connection. `ws` is null while it sits in the offline grace after its socket closed. */
export interface Presence extends ClientInfo {
  presenceId: string;
  meshId: string;
  memberId: string;
  memberPubkey: string;
  sessionPubkey: string | null;
  peerRole: PeerRole;
  /** hello displayName, falling back to the member's name. */
  displayName: string;
  groups: PeerGroup[];
  status: PeerStatus;
  summary: string | null;
  stats?: Partial<SessionStats> & { uptime?: number };
  visible: boolean;
  profile: PeerProfile;
  connectedAt: Date;
  /** Order of registration (hello or reattach), which decides whose fields a member-keyed row shows. */
  registeredAt: number;
  ws: WebSocket | null;
  graceTimer?: NodeJS.Timeout;
}

/** The key peers see and encrypt to: the session key if declared, else the member key. */
export function routingKey(p: Presence): string {
  return p.sessionPubkey ?? p.memberPubkey;
}

export function isOnline(p: Presence): p is Presence & { ws: WebSocket } {
  return p.ws !== null && p.ws.readyState === WebSocket.OPEN;
}

/** `_reqId` is copied only when the request carried a truthy one (§4). */
export function withReqId(frame: Record<string, unknown>, reqId: unknown): Record<string, unknown> {
  return reqId ? { ...frame, _reqId: reqId } : frame;
}

export class BrokerContext {
  readonly presences = new Map<string, Presence>();
  readonly buckets: TokenBuckets | null;
  private registrations = 0;

  constructor(
    readonly options: ResolvedOptions,
    readonly db: BrokerDatabase,
    readonly stats: BrokerStats,
  ) {
    this.buckets = options.rateLimit ? new TokenBuckets(options.rateLimit.burst, options.rateLimit.perMinute) : null;
  }

  nextRegistration(): number {
    return ++this.registrations;
  }

  log(line: string): void {
    this.options.log(line);
  }

  meshPresences(meshId: string): Presence[] {
    return [...this.presences.values()].filter((p) => p.meshId === meshId);
  }

  /** Sends one JSON frame if the socket is open; a failed write is the socket's problem, not the broker's. */
  sendFrame(ws: WebSocket | null, frame: Record<string, unknown>): boolean {
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    try {
      ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  /** Push shape (c), §5. */
  pushSystem(to: Presence, event: string, eventData: unknown): void {
    this.sendFrame(to.ws, {
      type: 'push',
      subtype: 'system',
      event,
      eventData,
      messageId: randomUUID(),
      meshId: to.meshId,
      senderPubkey: 'system',
      priority: 'low',
      nonce: '',
      ciphertext: '',
      createdAt: new Date().toISOString(),
    });
  }

  /** Removes a presence without any peer_left (session replaced, kicked, banned). */
  dropPresence(p: Presence): void {
    clearTimeout(p.graceTimer);
    this.presences.delete(p.presenceId);
  }

  /** Socket gone: save peer state, keep the presence listed and DM-addressable until the grace runs out. */
  beginGrace(p: Presence): void {
    p.ws = null;
    this.log(`offline grace: ${p.displayName} (${p.presenceId})`);
    this.savePeerState(p);
    clearTimeout(p.graceTimer);
    p.graceTimer = setTimeout(() => this.endGrace(p), this.options.graceMs);
  }

  private endGrace(p: Presence): void {
    if (this.presences.get(p.presenceId) !== p || p.ws !== null) return;
    this.presences.delete(p.presenceId);
    this.log(`grace over: ${p.displayName} (${p.presenceId})`);
    for (const other of this.meshPresences(p.meshId)) {
      if (other.memberId !== p.memberId) this.pushSystem(other, 'peer_left', { name: p.displayName, pubkey: routingKey(p) });
    }
  }

  private savePeerState(p: Presence): void {
    const previous = this.db.peerState(p.meshId, p.memberId);
    const add = (field: keyof SessionStats) => (previous?.cumulativeStats[field] ?? 0) + (p.stats?.[field] ?? 0);
    this.db.savePeerState(p.meshId, p.memberId, {
      groups: p.groups,
      profile: p.profile,
      visible: p.visible,
      lastSummary: p.summary ?? previous?.lastSummary ?? null,
      lastSeenAt: new Date(),
      cumulativeStats: { messagesIn: add('messagesIn'), messagesOut: add('messagesOut'), toolCalls: add('toolCalls'), errors: add('errors') },
    });
  }
}
