/**
 * Toasts for inbound messages (Reply / Open) and, when asked for, presence changes. Notification text renders
 * `[x](command:…)` as links, so every one is built with `say` (shared/notify.ts), which defuses what a peer wrote.
 */
import * as vscode from 'vscode';
import type { InboundMessage, MeshClientApi, PresenceEvent } from '../../broker/types';
import { conversationKeyOf, Conversations, peerName } from './model';
import { Ctx, readSettings } from '../shared/ctx';
import { inline } from '../shared/untrusted';
import { say, showInfo, showWarning } from '../shared/notify';
import { errorMessage, PRESENCE_VERB } from '../shared/text';

/** Messages of one conversation that arrived while its last toast was recent: shown together once it is not. */
interface Burst {
  until: number;
  timer?: NodeJS.Timeout;
  held: InboundMessage[];
}

export class Notifications implements vscode.Disposable {
  private readonly subscriptions: vscode.Disposable[];
  /** Per mesh and conversation: a toast at most once per `quietMs`, so a burst of five DMs is two toasts, not five. */
  private readonly bursts = new Map<string, Burst>();

  constructor(
    private readonly ctx: Ctx,
    private readonly conversations: Conversations,
    private readonly quietMs = 5_000,
  ) {
    this.subscriptions = [
      ctx.onDidReceiveMessage(({ client, message }) =>
        this.onMessage(client, message).catch((err) => ctx.log.warn(`${client.mesh.slug}: a message notification failed: ${errorMessage(err)}`)),
      ),
      ctx.onPresence(({ client, event }) => this.onPresence(client, event)),
    ];
  }

  private async onMessage(client: MeshClientApi, message: InboundMessage): Promise<void> {
    const key = conversationKeyOf(message);
    // The user is reading this conversation: no toast, and it stays read.
    if (this.isOpen(client.mesh.meshId, key)) return this.conversations.markRead(client, key);
    const setting = readSettings().notifications;
    if (setting === 'off' || (setting === 'direct' && message.kind !== 'direct')) return;

    const id = `${client.mesh.meshId}\n${key}`;
    const burst = this.bursts.get(id);
    if (burst && Date.now() < burst.until) {
      burst.held.push(message);
      burst.timer ??= setTimeout(() => void this.release(client, id), burst.until - Date.now());
      return;
    }
    await this.toast(client, id, [message]);
  }

  /** The messages held back during a burst, as one toast once the conversation has been quiet long enough. */
  private async release(client: MeshClientApi, id: string): Promise<void> {
    const burst = this.bursts.get(id);
    if (!burst) return;
    const held = burst.held.filter((m) => !this.isOpen(client.mesh.meshId, conversationKeyOf(m)));
    this.bursts.delete(id);
    if (held.length) await this.toast(client, id, held);
  }

  /** How many conversations are within their quiet window: the ones whose window ended are dropped as others start. */
  get quietConversations(): number {
    return this.bursts.size;
  }

  private async toast(client: MeshClientApi, id: string, messages: InboundMessage[]): Promise<void> {
    const now = Date.now();
    // A window that ended with nothing held has nothing left to do (one with held messages ends in release()).
    for (const [other, burst] of this.bursts) if (!burst.timer && now >= burst.until) this.bursts.delete(other);
    this.bursts.set(id, { until: now + this.quietMs, held: [] });
    const message = messages[messages.length - 1];
    const key = conversationKeyOf(message);
    const name = peerName(client, message.senderPubkey, message.senderName);
    const where = message.kind === 'direct' ? say`` : say` (to everyone or a group)`;
    const mesh = this.ctx.clients.length > 1 ? say`[${client.mesh.slug}] ` : say``;
    const body = message.text === null ? say`sent a message that could not be decrypted` : say`${inline(message.text, 160)}`;
    const show = messages.some((m) => m.priority === 'now') ? showWarning : showInfo;
    const head = messages.length > 1 ? say`${mesh}${String(messages.length)} new messages from ${name}${where}, the latest: ` : say`${mesh}${name}${where}: `;
    const choice = await show(say`${head}${body}`, 'Reply', 'Open');
    // A reply to a multicast goes to its sender directly: the push does not say which group it was sent to.
    if (choice === 'Reply') await vscode.commands.executeCommand('claudemesh.reply', { meshId: client.mesh.meshId, key: message.senderPubkey, label: name });
    if (choice === 'Open') await vscode.commands.executeCommand('claudemesh.openConversation', { meshId: client.mesh.meshId, key });
  }

  /** No toast for a conversation the user is looking at. */
  private isOpen(meshId: string, key: string): boolean {
    return this.conversations.isReading(meshId, key);
  }

  private onPresence(client: MeshClientApi, event: PresenceEvent): void {
    const verb = PRESENCE_VERB[event.event];
    if (!verb || !readSettings().presenceNotifications || event.pubkey === client.sessionPubkey) return;
    void showInfo(say`${event.name || 'A peer'} ${verb} ${client.mesh.slug}.`);
  }

  dispose(): void {
    for (const burst of this.bursts.values()) clearTimeout(burst.timer);
    this.bursts.clear();
    for (const s of this.subscriptions) s.dispose();
  }
}
