/**
 * Conversations, derived from each client's inbox history and outbox: one per DM peer (keyed by the peer's routing
 * key), one per group we wrote to, and one for everything multicast. The broker's multicast push does not say which
 * group a message was sent to (docs/protocol.md §5, shape b), so received broadcast and group messages share the `*` conversation.
 * Read markers are kept in workspaceState so unread counts survive a reload.
 */
import * as vscode from 'vscode';
import type { InboundMessage, MeshClientApi, OutboxRow } from '../broker/types';
import type { Ctx } from './ctx';
import { shortKey } from './text';

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
  unread: number;
  lastAt: number;
}

export function conversationKeyOf(message: InboundMessage): string {
  return message.kind === 'direct' ? message.senderPubkey : EVERYONE;
}

function kindOf(key: string): Conversation['kind'] {
  return key === EVERYONE ? 'everyone' : key.startsWith('@') ? 'group' : 'direct';
}

/**
 * Names peers as this window knows them: the live peer list first, then what the message itself said. One pass over
 * the peer list serves every lookup made through the returned function.
 */
function peerNamer(client: MeshClientApi): (pubkey: string, fallback?: string) => string {
  const names = new Map<string, string>();
  for (const peer of client.peers) if (!names.has(peer.pubkey)) names.set(peer.pubkey, peer.displayName);
  return (pubkey, fallback) => names.get(pubkey) || fallback || shortKey(pubkey);
}

/** One peer's name; see peerNamer. */
export function peerName(client: MeshClientApi, pubkey: string, fallback?: string): string {
  return peerNamer(client)(pubkey, fallback);
}

export class Conversations implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<string>();
  /** Fires with the meshId whose conversations changed. */
  readonly onDidChange = this.changed.event;
  private readonly subscriptions: vscode.Disposable[];

  constructor(private readonly ctx: Ctx) {
    this.subscriptions = [
      ctx.onDidReceiveMessage(({ client }) => this.changed.fire(client.mesh.meshId)),
      ctx.onDidChangeOutbox((client) => this.changed.fire(client.mesh.meshId)),
      ctx.onDidChangePeers((client) => this.changed.fire(client.mesh.meshId)),
      ctx.onDidChangeClients(() => this.changed.fire('')),
    ];
  }

  /** Most recent first. */
  list(client: MeshClientApi): Conversation[] {
    const byKey = new Map<string, Conversation>();
    const read = this.readMarkers(client.mesh.meshId);
    const nameOf = peerNamer(client);
    const conversation = (key: string, label: string): Conversation => {
      let found = byKey.get(key);
      if (!found) {
        found = { meshId: client.mesh.meshId, key, kind: kindOf(key), label, entries: [], unread: 0, lastAt: 0 };
        byKey.set(key, found);
      }
      return found;
    };
    for (const message of client.history) {
      const key = conversationKeyOf(message);
      const from = nameOf(message.senderPubkey, message.senderName);
      const entry = conversation(key, key === EVERYONE ? 'Everyone' : from);
      entry.entries.push({ direction: 'in', at: message.receivedAt, text: message.text, from, message });
      if (message.receivedAt > (read[key] ?? 0)) entry.unread++;
    }
    for (const row of client.outbox) {
      const label = row.targetSpec === EVERYONE ? 'Everyone' : row.targetSpec.startsWith('@') ? row.targetSpec : nameOf(row.targetSpec, row.targetLabel);
      conversation(row.targetSpec, label).entries.push({ direction: 'out', at: row.createdAt, text: row.text, from: 'you', row });
    }
    for (const entry of byKey.values()) {
      entry.entries.sort((a, b) => a.at - b.at);
      entry.lastAt = entry.entries[entry.entries.length - 1]?.at ?? 0;
      // A peer we have only written to still has a better name in the live list.
      if (entry.kind === 'direct') entry.label = nameOf(entry.key, entry.label);
    }
    return [...byKey.values()].sort((a, b) => b.lastAt - a.lastAt);
  }

  get(client: MeshClientApi, key: string): Conversation | undefined {
    return this.list(client).find((c) => c.key === key);
  }

  /** The sum of every conversation's `unread`, counted straight from the history: the status bar asks on every change. */
  unreadTotal(): number {
    let total = 0;
    for (const client of this.ctx.clients) {
      const read = this.readMarkers(client.mesh.meshId);
      for (const message of client.history) if (message.receivedAt > (read[conversationKeyOf(message)] ?? 0)) total++;
    }
    return total;
  }

  async markRead(client: MeshClientApi, key: string): Promise<void> {
    const latest = client.history.filter((m) => conversationKeyOf(m) === key).reduce((max, m) => Math.max(max, m.receivedAt), 0);
    const markers = this.readMarkers(client.mesh.meshId);
    if ((markers[key] ?? 0) >= latest) return;
    await this.ctx.context.workspaceState.update(markerKey(client.mesh.meshId), { ...markers, [key]: latest });
    this.changed.fire(client.mesh.meshId);
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
      this.changed.fire(client.mesh.meshId);
    }
  }

  private readMarkers(meshId: string): Record<string, number> {
    return this.ctx.context.workspaceState.get<Record<string, number>>(markerKey(meshId), {});
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.changed.dispose();
  }
}

function markerKey(meshId: string): string {
  return `claudemesh.readMarkers/${meshId}`;
}
