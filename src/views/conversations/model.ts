/**
 * Conversations, derived from each client's inbox history and outbox: one per DM peer (keyed by the peer's routing
 * key), one per group we wrote to, and one for everything multicast. The broker's multicast push does not say which
 * group a message was sent to (docs/protocol.md §5, shape b), so received broadcast and group messages share the `*` conversation.
 * Read markers are kept in workspaceState so unread counts survive a reload.
 */
import * as vscode from 'vscode';
import type { InboundMessage, MeshClientApi, OutboxRow, Peer } from '../../broker/types';
import type { Ctx } from '../shared/ctx';
import { shortKey } from '../shared/text';
import { inline } from '../shared/untrusted';

export const EVERYONE = '*';

export interface ConversationEntry {
  direction: 'in' | 'out';
  at: number;
  /** null when an inbound body could not be decrypted. */
  text: string | null;
  /** Who wrote it: a display name, or "you". */
  from: string;
  row?: OutboxRow;
  message?: InboundMessage;
}

export interface Conversation {
  meshId: string;
  key: string;
  kind: 'direct' | 'group' | 'everyone';
  label: string;
  entries: ConversationEntry[];
  /**
   * The outgoing rows that still need something (not yet sent or delivered), oldest first: what Messages lists under
   * the conversation, kept here so drawing its row does not go through the whole history. Only an outbox change
   * alters it, and that rebuilds the mesh's conversations.
   */
  pending: OutboxRow[];
  unread: number;
  lastAt: number;
}

/** Rows that need nothing more from the user; the rest are listed under their conversation. */
export function isSettled(row: OutboxRow): boolean {
  return row.status === 'sent' || row.status === 'delivered';
}

/** When the newest inbound message of the conversation arrived (0 if none): entries are in time order, so from the end. */
export function latestInbound(conversation: Conversation | undefined): number {
  const entries = conversation?.entries ?? [];
  for (let i = entries.length - 1; i >= 0; i--) if (entries[i].direction === 'in') return entries[i].at;
  return 0;
}

export function conversationKeyOf(message: InboundMessage): string {
  return message.kind === 'direct' ? message.senderPubkey : EVERYONE;
}

function kindOf(key: string): Conversation['kind'] {
  return key === EVERYONE ? 'everyone' : key.startsWith('@') ? 'group' : 'direct';
}

/** What the message prompt says about who can read it: only a DM is sealed for one session (docs/protocol.md §5). */
export function howItTravels(targetSpec: string): string {
  if (targetSpec === EVERYONE) return 'Sent to everyone on the mesh; every member can read it (not end-to-end encrypted)';
  if (targetSpec.startsWith('@')) return `Sent to the group ${inline(targetSpec)}; every member of the mesh can read it (not end-to-end encrypted)`;
  return 'Sent end-to-end encrypted: only this peer\'s session can read it';
}

/** One names map per peer list: MeshClient.peers is the same array until the list changes. */
const namesByList = new WeakMap<readonly Peer[], Map<string, string>>();

function namesOf(peers: readonly Peer[]): Map<string, string> {
  let names = namesByList.get(peers);
  if (!names) {
    names = new Map<string, string>();
    for (const peer of peers) if (!names.has(peer.pubkey)) names.set(peer.pubkey, peer.displayName);
    namesByList.set(peers, names);
  }
  return names;
}

/**
 * Names peers as this window knows them: the live peer list first, then the name they last had here (the peer book),
 * then what the message itself said. The map from keys to names is built once per peer list, so naming a sender costs
 * the same at 10 peers and at 1,000.
 */
function peerNamer(client: MeshClientApi, book: PeerBook = {}): (pubkey: string, fallback?: string) => string {
  const names = namesOf(client.peers);
  return (pubkey, fallback) => names.get(pubkey) || book[pubkey]?.name || fallback || shortKey(pubkey);
}

/** One peer's name; see peerNamer. */
export function peerName(client: MeshClientApi, pubkey: string, fallback?: string): string {
  return peerNamer(client)(pubkey, fallback);
}

/**
 * What this window last knew of a peer it has a conversation with, kept in workspaceState, so a conversation keeps its
 * peer's name after the session left (the broker then no longer lists it) and can say since when it is offline.
 */
export interface PeerRecord {
  name: string;
  memberPubkey: string;
  hostname?: string;
  cwd?: string;
  /** When this window first saw the peer gone while connected. */
  leftAt?: number;
}
export type PeerBook = Record<string, PeerRecord>;

/** Where a session runs, as "host · folder" (the folder's last segment), or '' when the peer said neither. */
export function placeOf(hostname: string | undefined, cwd: string | undefined): string {
  return [hostname, cwd?.split(/[\\/]/).filter(Boolean).pop()].filter(Boolean).join(' · ');
}

/** What changed: one conversation (`key`), or, without a key, any of the mesh's (all meshes when `meshId` is ''). */
export interface ConversationChange {
  meshId: string;
  key?: string;
}

/** One mesh's conversations, kept up to date as messages arrive instead of being rebuilt from the whole history. */
interface MeshConversations {
  byKey: Map<string, Conversation>;
  /** Most recent first; undefined until asked for after a change of order. */
  sorted: Conversation[] | undefined;
  unread: number;
  /** The peer list the labels were taken from. */
  peers: readonly Peer[];
}

/**
 * The conversations of every mesh. `list` and `get` hand out live objects: an inbound message is appended to its
 * conversation in place and the counts are adjusted, so it costs the same at 10 and at 1,000 messages of history.
 * An outbox change or a renamed peer rebuilds the mesh's conversations on the next read.
 */
export class Conversations implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<string>();
  /** Fires with the meshId whose conversations changed ('' for all). */
  readonly onDidChange = this.changed.event;
  private readonly conversationChanged = new vscode.EventEmitter<ConversationChange>();
  /** The same changes, saying which conversation when it is one: for views that redraw only what changed. */
  readonly onDidChangeConversation = this.conversationChanged.event;
  private readonly subscriptions: vscode.Disposable[];
  private readonly meshes = new Map<string, MeshConversations>();
  private readonly peerChecks = new Set<string>();
  /** Conversations shown in a focused chat panel: no toast for them, and what arrives there is read. */
  private readonly reading = new Set<string>();

  constructor(private readonly ctx: Ctx) {
    this.subscriptions = [
      ctx.onDidReceiveMessage(({ client, message }) => this.received(client, message)),
      ctx.onDidChangeOutbox((client) => this.invalidate(client.mesh.meshId)),
      ctx.onDidChangePeers((client) => this.peersChanged(client)),
      ctx.onDidChangeClients(() => this.invalidate('')),
    ];
  }

  /** Most recent first. */
  list(client: MeshClientApi): Conversation[] {
    const mesh = this.mesh(client);
    return (mesh.sorted ??= [...mesh.byKey.values()].sort((a, b) => b.lastAt - a.lastAt));
  }

  get(client: MeshClientApi, key: string): Conversation | undefined {
    return this.mesh(client).byKey.get(key);
  }

  /** The sum of every conversation's `unread`, kept as messages arrive and are read. */
  unreadTotal(): number {
    let total = 0;
    for (const client of this.ctx.clients) total += this.mesh(client).unread;
    return total;
  }

  async markRead(client: MeshClientApi, key: string): Promise<void> {
    const conversation = this.get(client, key);
    const latest = latestInbound(conversation);
    const markers = this.readMarkers(client.mesh.meshId);
    if ((markers[key] ?? 0) >= latest) return;
    await this.ctx.context.workspaceState.update(markerKey(client.mesh.meshId), { ...markers, [key]: latest });
    const mesh = this.meshes.get(client.mesh.meshId);
    if (mesh && conversation && mesh.byKey.get(key) === conversation) {
      mesh.unread -= conversation.unread;
      conversation.unread = 0;
    }
    this.fire(client.mesh.meshId, key);
  }

  /** What this window last knew of the peer behind a direct conversation. */
  peerRecord(meshId: string, pubkey: string): PeerRecord | undefined {
    return this.peerBook(meshId)[pubkey];
  }

  setReading(meshId: string, key: string, reading: boolean): void {
    if (reading) this.reading.add(`${meshId}\n${key}`);
    else this.reading.delete(`${meshId}\n${key}`);
  }

  isReading(meshId: string, key: string): boolean {
    return this.reading.has(`${meshId}\n${key}`);
  }

  private mesh(client: MeshClientApi): MeshConversations {
    let mesh = this.meshes.get(client.mesh.meshId);
    if (!mesh) this.meshes.set(client.mesh.meshId, (mesh = this.build(client)));
    return mesh;
  }

  private build(client: MeshClientApi): MeshConversations {
    const byKey = new Map<string, Conversation>();
    const read = this.readMarkers(client.mesh.meshId);
    const book = this.peerBook(client.mesh.meshId);
    const nameOf = peerNamer(client, book);
    let unread = 0;
    const conversation = (key: string, label: string): Conversation => {
      let found = byKey.get(key);
      if (!found) {
        found = { meshId: client.mesh.meshId, key, kind: kindOf(key), label, entries: [], pending: [], unread: 0, lastAt: 0 };
        byKey.set(key, found);
      }
      return found;
    };
    for (const message of client.history) {
      const key = conversationKeyOf(message);
      const from = nameOf(message.senderPubkey, message.senderName);
      const entry = conversation(key, key === EVERYONE ? 'Everyone' : from);
      entry.entries.push({ direction: 'in', at: message.receivedAt, text: message.text, from, message });
      if (message.receivedAt > (read[key] ?? 0)) {
        entry.unread++;
        unread++;
      }
    }
    for (const row of client.outbox) {
      const label = row.targetSpec === EVERYONE ? 'Everyone' : row.targetSpec.startsWith('@') ? row.targetSpec : nameOf(row.targetSpec, row.targetLabel);
      conversation(row.targetSpec, label).entries.push({ direction: 'out', at: row.createdAt, text: row.text, from: 'you', row });
    }
    for (const entry of byKey.values()) {
      entry.entries.sort((a, b) => a.at - b.at);
      for (const e of entry.entries) if (e.row && !isSettled(e.row)) entry.pending.push(e.row);
      entry.lastAt = entry.entries[entry.entries.length - 1]?.at ?? 0;
      // A peer we have only written to still has a better name in the live list.
      if (entry.kind === 'direct') entry.label = nameOf(entry.key, entry.label);
    }
    const direct = [...byKey.values()].filter((c) => c.kind === 'direct');
    const live = new Map<string, Peer>();
    for (const peer of client.peers) if (!live.has(peer.pubkey)) live.set(peer.pubkey, peer);
    this.updatePeerBook(client, book, direct.map((c) => c.key), live);
    nameSessions(direct, live, book);
    return { byKey, sorted: undefined, unread, peers: client.peers };
  }

  /** One message: appended to its conversation, which moves to the top; nothing else is looked at. */
  private received(client: MeshClientApi, message: InboundMessage): void {
    const meshId = client.mesh.meshId;
    const key = conversationKeyOf(message);
    const mesh = this.meshes.get(meshId);
    if (mesh) {
      const from = peerNamer(client, this.peerBook(meshId))(message.senderPubkey, message.senderName);
      let conversation = mesh.byKey.get(key);
      if (!conversation) {
        conversation = { meshId, key, kind: kindOf(key), label: key === EVERYONE ? 'Everyone' : from, entries: [], pending: [], unread: 0, lastAt: 0 };
        mesh.byKey.set(key, conversation);
        if (conversation.kind === 'direct') this.newPeer(client, mesh, key);
      }
      const entry: ConversationEntry = { direction: 'in', at: message.receivedAt, text: message.text, from, message };
      const { entries } = conversation;
      let at = entries.length;
      while (at > 0 && entries[at - 1].at > entry.at) at--;
      entries.splice(at, 0, entry);
      if (message.receivedAt > (this.readMarkers(meshId)[key] ?? 0)) {
        conversation.unread++;
        mesh.unread++;
      }
      conversation.lastAt = Math.max(conversation.lastAt, entry.at);
      if (mesh.sorted && mesh.sorted[0] !== conversation) {
        // Newest of all (the usual case): it moves to the front; anything else re-sorts on the next read.
        const i = mesh.sorted.indexOf(conversation);
        if (i > 0) mesh.sorted.splice(i, 1);
        if (conversation.lastAt >= (mesh.sorted[0]?.lastAt ?? 0)) mesh.sorted.unshift(conversation);
        else mesh.sorted = undefined;
      }
    }
    this.fire(meshId, key);
  }

  /**
   * A first message from a peer: it goes in the peer book; if the member already has a conversation with another of
   * its sessions (rare), the mesh's conversations are rebuilt on the next read so each is named by where it runs.
   */
  private newPeer(client: MeshClientApi, mesh: MeshConversations, key: string): void {
    const peer = client.peers.find((p) => p.pubkey === key);
    this.updatePeerBook(client, this.peerBook(client.mesh.meshId), [key], new Map(peer ? [[key, peer]] : []));
    const member = peer?.memberPubkey;
    if (!member) return;
    for (const other of mesh.byKey.values()) {
      if (other.key === key || other.kind !== 'direct') continue;
      const otherMember = client.peers.find((p) => p.pubkey === other.key)?.memberPubkey ?? this.peerRecord(client.mesh.meshId, other.key)?.memberPubkey;
      if (otherMember === member) {
        this.meshes.delete(client.mesh.meshId);
        return;
      }
    }
  }

  /**
   * Labels and sender names come from the peer list: rebuild only when a name in it really changed. Checked on the
   * next turn, once per burst of list changes, so a presence event reaches the Peers view without waiting on this.
   */
  private peersChanged(client: MeshClientApi): void {
    const meshId = client.mesh.meshId;
    if (this.peerChecks.has(meshId)) return;
    this.peerChecks.add(meshId);
    setImmediate(() => {
      this.peerChecks.delete(meshId);
      const mesh = this.meshes.get(meshId);
      if (!mesh || this.ctx.client(meshId) !== client) return;
      if (sameNames(mesh.peers, client.peers)) {
        mesh.peers = client.peers;
        return;
      }
      this.invalidate(meshId);
    });
  }

  private invalidate(meshId: string): void {
    if (meshId) this.meshes.delete(meshId);
    else this.meshes.clear();
    this.fire(meshId);
  }

  private fire(meshId: string, key?: string): void {
    this.changed.fire(meshId);
    this.conversationChanged.fire({ meshId, key });
  }

  /** Mark All Read: every conversation of every mesh, one marker write per mesh. */
  async markAllRead(): Promise<void> {
    for (const client of this.ctx.clients) {
      const markers = { ...this.readMarkers(client.mesh.meshId) };
      let changed = false;
      for (const message of client.history) {
        const key = conversationKeyOf(message);
        if (message.receivedAt > (markers[key] ?? 0)) {
          markers[key] = message.receivedAt;
          changed = true;
        }
      }
      if (!changed) continue;
      await this.ctx.context.workspaceState.update(markerKey(client.mesh.meshId), markers);
      // Every unread count of the mesh changed: its conversations are rebuilt on the next read.
      this.invalidate(client.mesh.meshId);
    }
  }

  /**
   * Records the live name and place of every peer we have a conversation with, and when one was first seen gone.
   * Only while connected: a disconnected window does not know who left. Written only when something changed.
   * (A peer leaving changes the names in the list, so the conversations are rebuilt and this runs.)
   */
  private updatePeerBook(client: MeshClientApi, book: PeerBook, keys: string[], live: ReadonlyMap<string, Peer>): void {
    if (client.state.kind !== 'connected' || keys.length === 0) return;
    const next: PeerBook = { ...book };
    let changed = false;
    for (const key of keys) {
      const peer = live.get(key);
      const known = book[key];
      if (peer) {
        const record: PeerRecord = { name: peer.displayName, memberPubkey: peer.memberPubkey, hostname: peer.hostname, cwd: peer.cwd };
        if (!known || known.leftAt || known.name !== record.name || known.hostname !== record.hostname || known.cwd !== record.cwd) {
          next[key] = record;
          changed = true;
        }
      } else if (known && !known.leftAt) {
        next[key] = { ...known, leftAt: Date.now() };
        changed = true;
      }
    }
    if (changed) void this.ctx.context.workspaceState.update(bookKey(client.mesh.meshId), next);
  }

  private peerBook(meshId: string): PeerBook {
    return this.ctx.context.workspaceState.get<PeerBook>(bookKey(meshId), {});
  }

  private readMarkers(meshId: string): Record<string, number> {
    return this.ctx.context.workspaceState.get<Record<string, number>>(markerKey(meshId), {});
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.changed.dispose();
    this.conversationChanged.dispose();
  }
}

/** Whether two peer lists name every key the same way (a status or summary change renames nobody). */
function sameNames(a: readonly Peer[], b: readonly Peer[]): boolean {
  if (a === b) return true;
  const before = namesOf(a);
  const after = namesOf(b);
  if (before.size !== after.size) return false;
  for (const [key, name] of after) if (before.get(key) !== name) return false;
  return true;
}

/**
 * Conversations with several sessions of one member (a person's Claude Code sessions, say) would all read "Rita":
 * each is named by where it runs instead, "Rita (laptop · shop)".
 */
function nameSessions(direct: Conversation[], live: ReadonlyMap<string, Peer>, book: PeerBook): void {
  const byMember = new Map<string, Conversation[]>();
  for (const conversation of direct) {
    const member = live.get(conversation.key)?.memberPubkey ?? book[conversation.key]?.memberPubkey;
    if (member) byMember.set(member, [...(byMember.get(member) ?? []), conversation]);
  }
  for (const sessions of byMember.values()) {
    if (sessions.length < 2) continue;
    for (const conversation of sessions) {
      const peer = live.get(conversation.key) ?? book[conversation.key];
      const where = peer && placeOf(peer.hostname, peer.cwd);
      if (where) conversation.label = `${conversation.label} (${where})`;
    }
  }
}

function bookKey(meshId: string): string {
  return `claudemesh.peerBook/${meshId}`;
}

function markerKey(meshId: string): string {
  return `claudemesh.readMarkers/${meshId}`;
}
