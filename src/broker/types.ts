/**
 * Shapes shared by the broker client and everything built on it. Wire names follow docs/protocol.md (the § numbers
 * below are its sections).
 */
import type { Event } from './events';

/** One joined mesh, as stored by the claudemesh CLI (`~/.claudemesh/config.json`, `meshes[]`). */
export interface JoinedMesh {
  meshId: string;
  memberId: string;
  slug: string;
  name: string;
  /** Member Ed25519 public key, 64 lowercase hex. */
  pubkey: string;
  /** libsodium 64-byte secret (seed‖pubkey), 128 lowercase hex. */
  secretKey: string;
  /** wss://host/ws */
  brokerUrl: string;
  joinedAt: string;
  rootKey?: string;
  inviteVersion?: 1 | 2;
}

export type PeerStatus = 'idle' | 'working' | 'dnd';
export type Priority = 'now' | 'next' | 'low';
export type PeerRole = 'control-plane' | 'session' | 'service';

export interface PeerGroup {
  name: string;
  role?: string;
}

export interface PeerProfile {
  avatar?: string;
  title?: string;
  bio?: string;
  capabilities?: string[];
}

/** One row of `peers_list.peers` (§10). Everything here is peer-supplied and untrusted. */
export interface Peer {
  pubkey: string;
  memberPubkey: string;
  displayName: string;
  status: PeerStatus;
  summary: string | null;
  groups: PeerGroup[];
  sessionId: string;
  connectedAt: string;
  cwd: string;
  peerRole: PeerRole;
  hostname?: string;
  peerType?: string;
  channel?: string;
  model?: string;
  visible?: boolean;
  profile?: PeerProfile;
}

export type ConnectionState =
  | { kind: 'disconnected' }
  | { kind: 'connecting'; attempt: number }
  | { kind: 'connected'; presenceId: string; displayName: string }
  | { kind: 'reconnecting'; attempt: number; retryAt: number; lastError: string }
  /** Terminal: retrying cannot help until the user acts (revoked, bad identity, replaced by another window). */
  | { kind: 'failed'; code: string; reason: string };

/** A message received from the mesh, after decryption and dedupe. */
export interface InboundMessage {
  /** Dedupe key: `client_message_id ?? messageId`. */
  id: string;
  brokerMessageId: string;
  meshId: string;
  senderPubkey: string;
  senderMemberPubkey?: string;
  /** Only multicast pushes carry a name; DMs are named from the peer list. */
  senderName?: string;
  /** `direct` when it opened with our key; `multicast` for the plain base64 path (broadcast or group). */
  kind: 'direct' | 'multicast';
  /** null when the body could not be decrypted or decoded. */
  text: string | null;
  priority: Priority;
  createdAt: string;
  receivedAt: number;
  subtype?: string;
  /** Set for a webhook push (§5): the webhook's name; `text` is the POSTed JSON. */
  webhook?: string;
}

/**
 * Where an outgoing message is. The outbox is the only writer; the Messages view and the chat panel read it.
 *
 * - `queued`: stored, waiting for its turn: a connection, a rate-limit token, or the ack of the previous message to
 *   the same recipient (one `send` in flight per `targetSpec` keeps a conversation in order).
 * - `sending`: written to the broker, waiting for its ack.
 * - `sent`: the broker accepted it. A multicast row ends here (the broker cannot say who got it). A DM stays here
 *   while the outbox polls `message_status`; `recipient` says whom it waits for.
 * - `delivered` (DMs): the recipient's client acknowledged it; `deliveredAt` is set. Final.
 * - `not_delivered` (DMs): the recipient session went away before taking it (its `peer_left`, or `message_status`
 *   listing it `disconnected`). `notDeliveredReason` and `recipient` say why and for whom. It stays queued at the
 *   broker for that session key (a resumed session comes back under the same key), and the row offers "Send to
 *   another session of <member>" (`MeshClientApi.resendTo`), or Discard.
 * - `held` (DMs): the broker had no connected peer for the key; the outbox resends it when that peer is back, until
 *   the hold expiry (then `failed`).
 * - `unknown` (multicast): written, but the connection dropped before its ack, so it may or may not have gone out.
 *   Never resent on its own (receivers cannot dedupe a multicast resend: it would show twice). Retry or Discard.
 * - `failed`: the outbox gave up; `lastError` says why. Retry or Discard.
 */
export type OutboxStatus = 'queued' | 'sending' | 'sent' | 'delivered' | 'not_delivered' | 'held' | 'unknown' | 'failed';

/** Who a DM was for, captured from the peer list when it was written (peer-supplied, untrusted). */
export interface OutboxRecipient {
  /** The session (or member) key the DM is encrypted for: the row's `targetSpec`. */
  pubkey: string;
  /** The member behind that session: its other sessions are the candidates for "Send to another session". */
  memberPubkey?: string;
  name: string;
  /** Where that session runs, so two sessions of one member can be told apart. */
  cwd?: string;
  hostname?: string;
}

export interface OutboxRow {
  /** Monotonic per store; also the drain order. */
  seq: number;
  clientMessageId: string;
  fingerprint: string;
  meshId: string;
  /** Wire targetSpec: 64-hex pubkey, `*`, or `@group`. */
  targetSpec: string;
  /** What the user picked (a peer name, `@group`, `*`), for display. */
  targetLabel: string;
  priority: Priority;
  nonce: string;
  ciphertext: string;
  /** The plaintext, kept so the Messages view can show what was sent. */
  text: string;
  status: OutboxStatus;
  attempts: number;
  /** Performance-clock ms (`performance.now()`); 0 after a reload (due at once). Never shown. */
  nextAttemptAt: number;
  /** Wall-clock ms, for display and ordering in views. */
  createdAt: number;
  lastError?: string;
  brokerMessageId?: string;
  /** Wall-clock ms of the broker's ack. */
  sentAt?: number;
  /** Set while a DM waits for its offline recipient; the row fails once this is older than the hold expiry. */
  heldSince?: number;
  /** DMs only: who it was for (see OutboxRecipient). */
  recipient?: OutboxRecipient;
  /** Wall-clock ms at which the broker reported the DM delivered (status `delivered`). */
  deliveredAt?: number;
  /** Why a DM is `not_delivered`, fit to show (it names the recipient). */
  notDeliveredReason?: string;
  /** `message_status` polls made for this DM so far; polling stops at a bound (then the row stays `sent`). */
  deliveryChecks?: number;
}

export interface StateEntry {
  key: string;
  value: unknown;
  updatedBy: string;
  updatedAt: string;
}

export interface StateChange {
  key: string;
  value: unknown;
  updatedBy: string;
}

export interface Memory {
  id: string;
  content: string;
  tags: string[];
  rememberedBy: string;
  rememberedAt: string;
}

export interface SkillSummary {
  name: string;
  description: string;
  tags: string[];
  author: string;
  createdAt: string;
}

export interface Skill extends SkillSummary {
  instructions: string;
  manifest?: unknown;
}

export interface MessageStatus {
  messageId: string;
  targetSpec: string;
  delivered: boolean;
  deliveredAt: string | null;
  recipients: { name: string; pubkey: string; status: 'delivered' | 'held' | 'disconnected' }[];
}

export interface MeshInfo {
  mesh: string;
  peers: number;
  groups: string[];
  stateKeys: string[] | number;
  memoryCount: number;
  yourName: string;
  yourGroups: unknown;
  [other: string]: unknown;
}

export type PresenceEventName = 'peer_joined' | 'peer_returned' | 'peer_left' | 'peer_visible' | 'peer_hidden' | 'profile_updated';

export interface PresenceEvent {
  event: PresenceEventName;
  name: string;
  pubkey: string;
  data: Record<string, unknown>;
}

export interface Logger {
  trace(message: string): void;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/**
 * What the UI sees of one mesh connection. `MeshClient` (client.ts) implements it; view tests may fake it.
 * Every RPC rejects with an Error whose message is fit to show the user.
 */
export interface MeshClientApi {
  readonly mesh: JoinedMesh;
  /** Our session public key: the `pubkey` other peers see for us. */
  readonly sessionPubkey: string;
  readonly state: ConnectionState;
  readonly peers: readonly Peer[];
  /** How many of `peers` a person sees besides this window: all but control-plane rows and our own session. */
  readonly otherPeerCount: number;
  /** This window's own row in `peers` (found by key, not by a scan: the status bar reads it on every change). */
  readonly ownRow: Peer | undefined;
  /** Whether the broker has answered a peer list since this connection came up (until then `peers` says nothing). */
  readonly peersListed: boolean;
  readonly history: readonly InboundMessage[];
  readonly outbox: readonly OutboxRow[];

  readonly onDidChangeState: Event<ConnectionState>;
  readonly onDidChangePeers: Event<readonly Peer[]>;
  readonly onDidReceiveMessage: Event<InboundMessage>;
  readonly onDidChangeOutbox: Event<readonly OutboxRow[]>;
  readonly onDidChangeSharedState: Event<StateChange>;
  readonly onPresence: Event<PresenceEvent>;

  connect(): void;
  disconnect(): Promise<void>;
  reconnect(): void;
  dispose(): Promise<void>;

  /** Persists, then returns the queued row. `target` is a 64-hex pubkey, `*` or `@group`. */
  send(target: string, text: string, options?: { priority?: Priority; label?: string }): Promise<OutboxRow>;
  retry(clientMessageId: string): Promise<void>;
  retryFailed(): Promise<number>;
  discard(clientMessageId: string): Promise<void>;
  /** Discards every failed row; returns how many. */
  discardFailed(): Promise<number>;
  /**
   * "Send to another session of <member>": re-encrypts a DM (not delivered, held, failed, or sent but unconfirmed) for
   * `sessionPubkey`, a live session of the same member, and sends it under the same client_message_id.
   */
  resendTo(clientMessageId: string, sessionPubkey: string): Promise<void>;
  /** The live sessions a DM row could be sent to instead: the recipient member's other sessions, not this window. */
  otherSessionsFor(row: OutboxRow): Peer[];

  listPeers(): Promise<Peer[]>;
  getState(key: string): Promise<StateEntry | undefined>;
  setState(key: string, value: unknown): Promise<void>;
  listState(): Promise<StateEntry[]>;
  remember(content: string, tags?: string[]): Promise<string>;
  recall(query: string): Promise<Memory[]>;
  forget(memoryId: string): Promise<void>;
  listSkills(query?: string): Promise<SkillSummary[]>;
  getSkill(name: string): Promise<Skill | undefined>;
  shareSkill(skill: { name: string; description: string; instructions: string; tags?: string[]; manifest?: unknown }): Promise<void>;
  removeSkill(name: string): Promise<boolean>;
  setStatus(status: PeerStatus): Promise<void>;
  setSummary(summary: string): Promise<void>;
  setVisible(visible: boolean): Promise<void>;
  setProfile(profile: PeerProfile): Promise<void>;
  messageStatus(messageId: string): Promise<MessageStatus>;
  meshInfo(): Promise<MeshInfo>;
}
