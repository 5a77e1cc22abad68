/**
 * One mesh, end to end: the connection, the durable outbox, the inbox, and a live peer list kept current from
 * presence pushes. This is what the extension (and any plain Node script) talks to.
 */
import { BrokerConnection, ConnectionOptions, listenerFailed } from './connection';
import { decryptInbound, destinationOf, encodeMulticast, encryptDirect, requestFingerprint, SharedKeyCache } from './crypto';
import { Emitter, Event } from './events';
import { migrateHistory, OutboxSplitStore } from './history';
import { Inbox } from './inbox';
import { PUBLIC_KEY } from './keys';
import { isDirect, Outbox, RateLimit } from './outbox';
import { BrokerError, type Frame, type QueuedPush, type SystemPush, type WebhookPush } from './protocol';
import type { KeyValueStore } from './store';
import type {
  ConnectionState,
  InboundMessage,
  JoinedMesh,
  Logger,
  Memory,
  MeshClientApi,
  MeshInfo,
  MessageStatus,
  OutboxRecipient,
  OutboxRow,
  Peer,
  PeerProfile,
  PeerStatus,
  PresenceEvent,
  PresenceEventName,
  Priority,
  Skill,
  SkillSummary,
  StateChange,
  StateEntry,
} from './types';

/** The connection's options (identity, session, hello fields, timing) plus what the outbox and inbox need. */
export interface MeshClientOptions extends ConnectionOptions {
  /** The outbox: rows that still need something (queued, sending, held, failed, ...), and, without `history`, all. */
  store: KeyValueStore;
  /**
   * Conversation history: received messages and sent rows once the broker has them. Give a `LogStore` here when
   * `store` rewrites itself whole on every change (VS Code's workspaceState); what earlier versions kept in `store`
   * moves here once. Default: `store`.
   */
  history?: KeyValueStore;
  holdExpiryMs?: number;
  rateLimit?: RateLimit | false;
  maxInFlight?: number;
  maxHistory?: number;
  /** While DMs are held for offline peers, the peer list is re-read this often. */
  heldPollMs?: number;
  /** Outbox: first `message_status` check of a sent DM (then doubling), and how many checks at most. */
  deliveryPollMs?: number;
  maxDeliveryChecks?: number;
}

/** What this window last wrote about itself; shown on its own row until a `peers_list` reports the same. */
type OwnWrites = Partial<Pick<Peer, 'status' | 'summary' | 'visible'>> & { profile?: PeerProfile };

const PRESENCE_EVENTS: readonly string[] = ['peer_joined', 'peer_returned', 'peer_left', 'peer_visible', 'peer_hidden', 'profile_updated'];

type FrameOf<T extends Frame['type']> = Extract<Frame, { type: T }>;

export class MeshClient implements MeshClientApi {
  readonly mesh: JoinedMesh;
  readonly sessionPubkey: string;
  private readonly connection: BrokerConnection;
  private readonly outboxQueue: Outbox;
  private readonly inbox: Inbox;
  private readonly sessionKeys: SharedKeyCache;
  private readonly memberKeys: SharedKeyCache;
  private readonly peersByKey = new Map<string, Peer>();
  /** `peers` as one array, rebuilt after a change rather than on every read: views read it many times per event. */
  private peerList: readonly Peer[] | undefined;
  private listedSinceConnect = false;
  /** Kept up to date as peers come and go, so a presence event never recounts the whole list. */
  private othersListed = 0;
  private refreshTimer: NodeJS.Timeout | undefined;
  private heldTimer: NodeJS.Timeout | undefined;
  private selfName: string;
  private readonly log: Logger | undefined;
  private readonly subscriptions: { dispose(): void }[] = [];
  private readonly migrated: Promise<unknown>;
  /**
   * The broker answers a `list_peers` that was sent after a `set_status` before it has applied it (§11, handlers run
   * concurrently), so a list can be older than what we wrote. Our writes win on our own row until a list agrees.
   */
  private own: OwnWrites = {};

  private readonly peersEmitter = new Emitter<readonly Peer[]>(listenerFailed(() => this.log, 'peers'));
  private readonly messageEmitter = new Emitter<InboundMessage>(listenerFailed(() => this.log, 'message'));
  private readonly sharedStateEmitter = new Emitter<StateChange>(listenerFailed(() => this.log, 'shared state'));
  private readonly presenceEmitter = new Emitter<PresenceEvent>(listenerFailed(() => this.log, 'presence'));
  readonly onDidChangePeers = this.peersEmitter.event;
  readonly onDidReceiveMessage = this.messageEmitter.event;
  readonly onDidChangeSharedState = this.sharedStateEmitter.event;
  readonly onPresence = this.presenceEmitter.event;
  readonly onDidChangeState: Event<ConnectionState>;
  readonly onDidChangeOutbox: Event<readonly OutboxRow[]>;

  constructor(private readonly opts: MeshClientOptions) {
    this.mesh = opts.mesh;
    this.sessionPubkey = opts.sessionKey.pubkey;
    this.selfName = opts.displayName ?? '';
    this.log = opts.log;
    this.sessionKeys = new SharedKeyCache(opts.sessionKey.secretKey);
    this.memberKeys = new SharedKeyCache(opts.mesh.secretKey);
    const connection = (this.connection = new BrokerConnection(opts));
    const history = opts.history ?? opts.store;
    let outboxStore = opts.store;
    if (history !== opts.store) {
      // The move is in memory at once (both stores read from memory); the disk writes finish in the background.
      this.migrated = migrateHistory(opts.mesh.meshId, opts.store, history).then(
        (moved) => moved && this.log?.info(`${opts.mesh.slug}: moved ${moved} history record(s) out of the workspace store`),
        (err: Error) => this.log?.error(`${opts.mesh.slug}: could not move history out of the workspace store: ${err.message}`),
      );
      outboxStore = new OutboxSplitStore(`claudemesh.outbox/${opts.mesh.meshId}/`, opts.store, history);
    } else {
      this.migrated = Promise.resolve();
    }
    this.outboxQueue = new Outbox({
      meshId: opts.mesh.meshId,
      store: outboxStore,
      log: opts.log,
      holdExpiryMs: opts.holdExpiryMs,
      rateLimit: opts.rateLimit,
      maxInFlight: opts.maxInFlight,
      deliveryPollMs: opts.deliveryPollMs,
      maxDeliveryChecks: opts.maxDeliveryChecks,
      transport: {
        get connected() {
          return connection.isConnected;
        },
        send: async (frame, onLate) => {
          const ack = await connection.request(frame, { idField: 'id', what: 'message', onLate: (late) => late.type === 'ack' && onLate(late) });
          if (ack.type !== 'ack') throw new BrokerError('unexpected_reply', `Expected an ack, got "${ack.type}".`);
          return ack;
        },
        messageStatus: (id) => this.messageStatus(id),
      },
    });
    this.inbox = new Inbox({ meshId: opts.mesh.meshId, store: history, maxHistory: opts.maxHistory });
    this.onDidChangeState = this.connection.onDidChangeState;
    this.onDidChangeOutbox = this.outboxQueue.onDidChange;
    this.subscriptions.push(
      this.connection.onDidChangeState((state) => this.onState(state)),
      this.connection.onFrame((frame) => this.onFrame(frame)),
    );
  }

  get state(): ConnectionState {
    return this.connection.state;
  }

  get peers(): readonly Peer[] {
    return (this.peerList ??= [...this.peersByKey.values()]);
  }

  get peersListed(): boolean {
    return this.listedSinceConnect;
  }

  get otherPeerCount(): number {
    return this.othersListed;
  }

  get ownRow(): Peer | undefined {
    return this.peersByKey.get(this.sessionPubkey);
  }

  get history(): readonly InboundMessage[] {
    return this.inbox.history;
  }

  get outbox(): readonly OutboxRow[] {
    return this.outboxQueue.rows;
  }

  /** Our display name as the broker reported it in hello_ack. */
  get displayName(): string {
    return this.selfName;
  }

  connect(): void {
    this.connection.start();
  }

  reconnect(): void {
    this.connection.restart();
  }

  async disconnect(): Promise<void> {
    this.connection.stop();
    await this.outboxQueue.flush();
  }

  async dispose(): Promise<void> {
    clearTimeout(this.refreshTimer);
    clearInterval(this.heldTimer);
    this.connection.dispose();
    await this.flush();
    this.outboxQueue.dispose();
    for (const s of this.subscriptions) s.dispose();
    for (const e of [this.peersEmitter, this.messageEmitter, this.sharedStateEmitter, this.presenceEmitter]) e.dispose();
  }

  /** Resolves when every pending store write has finished. */
  async flush(): Promise<void> {
    await this.migrated;
    await this.inbox.flush();
    await this.outboxQueue.flush();
  }

  async send(target: string, text: string, options: { priority?: Priority; label?: string } = {}): Promise<OutboxRow> {
    const priority = options.priority ?? 'next';
    let body;
    if (target === this.sessionPubkey) throw new Error('That is this window\'s own session; pick another peer.');
    if (PUBLIC_KEY.test(target)) body = encryptDirect(text, target, this.sessionKeys);
    else if (target === '*' || /^@[^\s@]+$/.test(target)) body = encodeMulticast(text);
    else throw new Error(`"${target}" is not a peer key, "*" or an @group.`);
    const fingerprint = requestFingerprint({ ...destinationOf(target), priority, body: text });
    const peer = this.peersByKey.get(target);
    const recipient = PUBLIC_KEY.test(target) ? recipientOf(peer, target, options.label) : undefined;
    return this.outboxQueue.enqueue({ targetSpec: target, targetLabel: options.label ?? target, priority, ...body, text, fingerprint, ...(recipient ? { recipient } : {}) });
  }

  otherSessionsFor(row: OutboxRow): Peer[] {
    const member = row.recipient?.memberPubkey;
    if (!member || !isDirect(row)) return [];
    return this.peers.filter((p) => p.memberPubkey === member && p.pubkey !== row.targetSpec && p.pubkey !== this.sessionPubkey && p.peerRole !== 'control-plane');
  }

  async resendTo(clientMessageId: string, sessionPubkey: string): Promise<void> {
    const row = this.outboxQueue.get(clientMessageId);
    const peer = this.peersByKey.get(sessionPubkey);
    if (!row || !peer || !this.otherSessionsFor(row).includes(peer)) throw new Error('That session is no longer online; pick another one.');
    const body = encryptDirect(row.text, sessionPubkey, this.sessionKeys);
    const fingerprint = requestFingerprint({ ...destinationOf(sessionPubkey), priority: row.priority, body: row.text });
    await this.outboxQueue.redirect(clientMessageId, { targetSpec: sessionPubkey, targetLabel: peer.displayName, ...body, fingerprint, recipient: recipientOf(peer, sessionPubkey) });
  }

  retry(clientMessageId: string): Promise<void> {
    return this.outboxQueue.retry(clientMessageId);
  }

  retryFailed(): Promise<number> {
    return this.outboxQueue.retryFailed();
  }

  discard(clientMessageId: string): Promise<void> {
    return this.outboxQueue.discard(clientMessageId);
  }

  discardFailed(): Promise<number> {
    return this.outboxQueue.discardFailed();
  }

  async listPeers(): Promise<Peer[]> {
    const { peers } = await this.call({ type: 'list_peers' }, 'peers_list');
    this.replacePeers(peers);
    return peers;
  }

  async getState(key: string): Promise<StateEntry | undefined> {
    return (await this.call({ type: 'get_state', key }, 'state_result')).entry;
  }

  async setState(key: string, value: unknown): Promise<void> {
    if (value === null || value === undefined) throw new Error('Shared state values cannot be empty (null); use a JSON value.');
    // The broker sends no reply to the writer; every other connection gets a state_change. Reflect it locally.
    await this.connection.post({ type: 'set_state', key, value });
    this.sharedStateEmitter.fire({ key, value, updatedBy: this.selfName });
  }

  async listState(): Promise<StateEntry[]> {
    return (await this.call({ type: 'list_state' }, 'state_list')).entries;
  }

  async remember(content: string, tags?: string[]): Promise<string> {
    return (await this.call({ type: 'remember', content, ...(tags?.length ? { tags } : {}) }, 'memory_stored', 'memory')).id;
  }

  async recall(query: string): Promise<Memory[]> {
    return (await this.call({ type: 'recall', query }, 'memory_results')).memories;
  }

  async forget(memoryId: string): Promise<void> {
    await this.call({ type: 'forget', memoryId }, 'ack');
  }

  async listSkills(query?: string): Promise<SkillSummary[]> {
    return (await this.call({ type: 'list_skills', ...(query ? { query } : {}) }, 'skill_list')).skills;
  }

  async getSkill(name: string): Promise<Skill | undefined> {
    return (await this.call({ type: 'get_skill', name }, 'skill_data')).skill;
  }

  async shareSkill(skill: { name: string; description: string; instructions: string; tags?: string[]; manifest?: unknown }): Promise<void> {
    await this.call({ type: 'share_skill', ...skill }, 'skill_ack', 'skill');
  }

  async removeSkill(name: string): Promise<boolean> {
    return (await this.call({ type: 'remove_skill', name }, 'skill_ack')).action === 'removed';
  }

  /**
   * Leaving `dnd`/`working` for `idle` also makes the broker drain what it held back meanwhile: it has no drain after
   * a status change (§11), so once a peer list shows the new status, the connection reattaches quietly (a drain trigger).
   */
  async setStatus(status: PeerStatus): Promise<void> {
    const before = this.peersByKey.get(this.sessionPubkey)?.status;
    await this.connection.post({ type: 'set_status', status });
    this.wrote({ status });
    if (status !== 'idle' || before === 'idle') return;
    for (let i = 0; i < 10; i++) {
      const mine = (await this.call({ type: 'list_peers' }, 'peers_list')).peers.find((p) => p.pubkey === this.sessionPubkey);
      if (mine?.status === 'idle') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await this.connection.reattach();
  }

  async setSummary(summary: string): Promise<void> {
    await this.connection.post({ type: 'set_summary', summary }, 'summary');
    this.wrote({ summary });
  }

  async setVisible(visible: boolean): Promise<void> {
    await this.call({ type: 'set_visible', visible }, 'ack');
    this.wrote({ visible });
  }

  async setProfile(profile: PeerProfile): Promise<void> {
    await this.call({ type: 'set_profile', ...profile }, 'ack', 'profile');
    this.wrote({ profile: { ...this.own.profile, ...profile } });
  }

  async messageStatus(messageId: string): Promise<MessageStatus> {
    return (await this.call({ type: 'message_status', messageId }, 'message_status_result')).status;
  }

  async meshInfo(): Promise<MeshInfo> {
    return (await this.call({ type: 'mesh_info' }, 'mesh_info_result')).info;
  }

  private async call<T extends Frame['type']>(payload: Record<string, unknown>, expected: T, what?: string): Promise<FrameOf<T>> {
    const reply = await this.connection.request(payload, { what });
    if (reply.type !== expected) {
      throw new BrokerError('unexpected_reply', `The broker answered "${String(payload.type)}" with "${reply.type}" instead of "${expected}".`);
    }
    return reply as FrameOf<T>;
  }

  private onState(state: ConnectionState): void {
    if (state.kind === 'connected') {
      if (state.displayName) this.selfName = state.displayName;
      this.outboxQueue.kick(true);
      this.listPeers().catch((err: Error) => this.log?.warn(`${this.mesh.slug}: could not list peers: ${err.message}`));
      clearInterval(this.heldTimer);
      this.heldTimer = setInterval(() => {
        if (this.outboxQueue.hasHeld()) this.refreshPeersSoon();
      }, this.opts.heldPollMs ?? 30_000);
    } else {
      this.listedSinceConnect = false;
      clearInterval(this.heldTimer);
      this.heldTimer = undefined;
    }
  }

  private onFrame(frame: Frame): void {
    switch (frame.type) {
      case 'push':
        if (frame.push.kind === 'system') this.onSystemPush(frame.push);
        else if (frame.push.kind === 'webhook') void this.onWebhookPush(frame.push);
        else void this.onMessagePush(frame.push);
        return;
      case 'state_change':
        this.sharedStateEmitter.fire({ key: frame.key, value: frame.value, updatedBy: frame.updatedBy });
        return;
      case 'ack':
        // Scheduled messages fire sends with ids we never issued (docs/protocol.md §4); nothing to do.
        this.log?.trace(`${this.mesh.slug}: ignored an ack for unknown id ${frame.id}`);
        return;
      default:
        this.log?.debug(`${this.mesh.slug}: ignored an unsolicited "${frame.type === 'other' ? frame.frameType : frame.type}" frame`);
    }
  }

  private async onMessagePush(push: QueuedPush): Promise<void> {
    const id = push.clientMessageId ?? push.messageId;
    try {
      if (!this.inbox.has(id)) {
        const body = decryptInbound(push, { session: this.sessionKeys, member: this.memberKeys });
        const message: InboundMessage = {
          id,
          brokerMessageId: push.messageId,
          meshId: push.meshId || this.mesh.meshId,
          senderPubkey: push.senderPubkey,
          kind: body.kind,
          text: body.text,
          priority: push.priority,
          createdAt: push.createdAt,
          receivedAt: Date.now(),
          ...(push.senderMemberPubkey ? { senderMemberPubkey: push.senderMemberPubkey } : {}),
          ...(push.senderName ? { senderName: push.senderName } : {}),
          ...(push.subtype ? { subtype: push.subtype } : {}),
        };
        // Persist first, then ack: a crash in between means a redelivery, which the dedupe absorbs.
        if (await this.inbox.add(message)) this.messageEmitter.fire(message);
      }
      // Duplicates are acked too, or the broker would keep re-pushing them.
      await this.connection.post({ type: 'client_ack', clientMessageId: id, brokerMessageId: push.messageId });
    } catch (err) {
      this.log?.warn(`${this.mesh.slug}: could not store or acknowledge message ${push.messageId}: ${(err as Error).message}`);
    }
  }

  /** A webhook POST relayed by the broker (§5): kept as what it is, its name and JSON, not as an empty broadcast. */
  private async onWebhookPush(push: WebhookPush): Promise<void> {
    const id = push.messageId || `webhook:${push.event}:${push.createdAt}`;
    let data: string;
    try {
      data = JSON.stringify(push.data) ?? 'null';
    } catch {
      data = '[unreadable]';
    }
    const message: InboundMessage = {
      id,
      brokerMessageId: push.messageId,
      meshId: this.mesh.meshId,
      senderPubkey: `webhook:${push.event}`,
      senderName: `webhook ${push.event}`,
      kind: 'multicast',
      text: data.length > 4_000 ? `${data.slice(0, 4_000)}…` : data,
      priority: 'next',
      createdAt: push.createdAt,
      receivedAt: Date.now(),
      subtype: 'webhook',
      webhook: push.event,
    };
    try {
      if (await this.inbox.add(message)) this.messageEmitter.fire(message);
    } catch (err) {
      this.log?.warn(`${this.mesh.slug}: could not store webhook event ${push.event}: ${(err as Error).message}`);
    }
  }

  private onSystemPush(push: SystemPush): void {
    if (!PRESENCE_EVENTS.includes(push.event)) {
      this.log?.debug(`${this.mesh.slug}: system event ${push.event}`);
      return;
    }
    const data = push.eventData;
    const event: PresenceEvent = {
      event: push.event as PresenceEventName,
      name: typeof data.name === 'string' ? data.name : '',
      pubkey: typeof data.pubkey === 'string' ? data.pubkey : '',
      data,
    };
    if (event.event === 'peer_left') {
      const gone = this.peersByKey.get(event.pubkey);
      this.outboxQueue.peerGone(event.pubkey);
      if (gone) {
        this.peersByKey.delete(event.pubkey);
        if (this.isOther(gone)) this.othersListed--;
        this.peersChanged();
      }
    } else if ((event.event === 'peer_joined' || event.event === 'peer_returned') && event.pubkey) {
      this.outboxQueue.peerSeen([event.pubkey]);
      this.refreshPeersSoon();
    } else {
      this.refreshPeersSoon();
    }
    this.presenceEmitter.fire(event);
  }

  /** Presence pushes carry only a name and key; one list_peers after a burst of them fills in the rest. */
  private refreshPeersSoon(): void {
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      if (this.connection.isConnected) this.listPeers().catch((err: Error) => this.log?.debug(`${this.mesh.slug}: peer refresh failed: ${err.message}`));
    }, 200);
  }

  /** Records our own write and shows it on our row at once. */
  private wrote(values: OwnWrites): void {
    Object.assign(this.own, values);
    const mine = this.peersByKey.get(this.sessionPubkey);
    if (!mine) return;
    this.peersByKey.set(this.sessionPubkey, this.withOwnWrites({ ...mine }, false));
    this.peersChanged();
  }

  /**
   * Lays what we wrote over our own row. With `confirm`, a field the broker now reports as written is dropped from
   * the overlay (from then on the broker is the truth); a list that still shows the old value is overruled.
   */
  private withOwnWrites(peer: Peer, confirm: boolean): Peer {
    const own = this.own;
    for (const key of ['status', 'summary', 'visible'] as const) {
      if (!(key in own)) continue;
      if (confirm && peer[key] === own[key]) delete own[key];
      else (peer as unknown as Record<string, unknown>)[key] = own[key];
    }
    if (own.profile) {
      const wanted = own.profile;
      const agrees = (Object.keys(wanted) as (keyof PeerProfile)[]).every((k) => JSON.stringify(peer.profile?.[k]) === JSON.stringify(wanted[k]));
      if (confirm && agrees) delete own.profile;
      else peer.profile = { ...peer.profile, ...wanted };
    }
    return peer;
  }

  private replacePeers(peers: Peer[]): void {
    this.peersByKey.clear();
    for (const peer of peers) this.peersByKey.set(peer.pubkey, peer.pubkey === this.sessionPubkey ? this.withOwnWrites(peer, true) : peer);
    this.othersListed = 0;
    for (const peer of this.peersByKey.values()) if (this.isOther(peer)) this.othersListed++;
    this.outboxQueue.peerSeen(this.peersByKey.keys());
    this.listedSinceConnect = true;
    this.peersChanged();
  }

  private isOther(peer: Peer): boolean {
    return peer.peerRole !== 'control-plane' && peer.pubkey !== this.sessionPubkey;
  }

  private peersChanged(): void {
    this.peerList = undefined;
    this.peersEmitter.fire(this.peers);
  }
}

/** Who a DM is for, from the peer list row of its recipient when we have one. */
function recipientOf(peer: Peer | undefined, pubkey: string, label?: string): OutboxRecipient {
  if (!peer) return { pubkey, name: label ?? pubkey.slice(0, 8) };
  return {
    pubkey,
    memberPubkey: peer.memberPubkey,
    name: peer.displayName,
    ...(peer.cwd ? { cwd: peer.cwd } : {}),
    ...(peer.hostname ? { hostname: peer.hostname } : {}),
  };
}
