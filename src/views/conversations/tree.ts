/**
 * The Messages view: one item per conversation with its unread count; under it, the outgoing messages that still
 * need something (queued, held for an offline peer, not delivered, may not have been sent, failed) with Retry,
 * Discard and, for a DM that was not delivered, Send to Another Session. Its badge is the unread total, which VS Code
 * also shows on the activity-bar container.
 */
import * as vscode from 'vscode';
import type { MeshClientApi, OutboxRow, OutboxStatus } from '../../broker/types';
import { Conversation, ConversationChange, Conversations } from './model';
import type { Ctx } from '../shared/ctx';
import { MeshTree } from '../shared/meshTree';
import { plural } from '../shared/text';
import { block, inline } from '../shared/untrusted';

export class ConversationNode {
  readonly type = 'conversation';
  constructor(
    readonly meshId: string,
    /** Replaced when the mesh's conversations are rebuilt; the node stays, so VS Code can be told to redraw it. */
    public conversation: Conversation,
  ) {}
  get key(): string {
    return this.conversation.key;
  }
}

export class OutgoingNode {
  readonly type = 'outgoing';
  constructor(
    readonly meshId: string,
    readonly row: OutboxRow,
  ) {}
}

type Node = ConversationNode | OutgoingNode;

const CONVERSATION_ICON: Record<Conversation['kind'], string> = { direct: 'account', group: 'organization', everyone: 'broadcast' };

const OUTGOING: Record<OutboxStatus, { icon: string; text: string }> = {
  queued: { icon: 'clock', text: 'queued' },
  sending: { icon: 'sync~spin', text: 'sending' },
  sent: { icon: 'check', text: 'sent' },
  delivered: { icon: 'check-all', text: 'delivered' },
  not_delivered: { icon: 'warning', text: 'not delivered' },
  held: { icon: 'watch', text: 'held: peer offline' },
  unknown: { icon: 'question', text: 'may not have been sent' },
  failed: { icon: 'error', text: 'failed' },
};

export class MessagesView extends MeshTree<Node> {
  /** One node per conversation shown, by mesh and key, so one conversation can be redrawn alone. */
  private readonly nodes = new Map<string, ConversationNode>();
  /** The conversation each mesh showed first at the last render: while it stays first, the order has not changed. */
  private readonly shownFirst = new Map<string, Conversation | undefined>();

  constructor(
    ctx: Ctx,
    private readonly conversations: Conversations,
  ) {
    super(ctx, 'claudemesh.messages', false);
    this.subscriptions.push(conversations.onDidChangeConversation((change) => this.conversationChanged(change)));
    this.updateBadge();
  }

  /** A message to the conversation already on top (a burst from one peer) redraws that row and the badge only. */
  private conversationChanged({ meshId, key }: ConversationChange): void {
    const node = key === undefined ? undefined : this.nodes.get(`${meshId}\n${key}`);
    const client = this.ctx.client(meshId);
    const first = client && this.conversations.list(client)[0];
    if (node && first === node.conversation && this.shownFirst.get(meshId) === first) {
      this.updateBadge();
      this.refreshItem(node);
    } else {
      this.refresh();
    }
  }

  override refresh(): void {
    this.updateBadge();
    super.refresh();
  }

  private updateBadge(): void {
    const unread = this.conversations.unreadTotal();
    this.view.badge = unread > 0 ? { value: unread, tooltip: `${plural(unread, 'unread message')}` } : undefined;
  }

  protected roots(client: MeshClientApi): Node[] {
    const meshId = client.mesh.meshId;
    const list = this.conversations.list(client);
    this.shownFirst.set(meshId, list[0]);
    return list.map((conversation) => {
      const id = `${meshId}\n${conversation.key}`;
      let node = this.nodes.get(id);
      if (node) node.conversation = conversation;
      else this.nodes.set(id, (node = new ConversationNode(meshId, conversation)));
      return node;
    });
  }

  protected override children(node: Node): Node[] {
    if (!(node instanceof ConversationNode)) return [];
    return node.conversation.pending.map((row) => new OutgoingNode(node.meshId, row));
  }

  protected item(node: Node): vscode.TreeItem {
    if (node instanceof OutgoingNode) {
      const { row } = node;
      const look = OUTGOING[row.status];
      const item = new vscode.TreeItem(inline(row.text, 60));
      item.id = `outgoing:${node.meshId}:${row.clientMessageId}`;
      item.description = look.text;
      item.iconPath = new vscode.ThemeIcon(look.icon);
      // A not-delivered DM says why (and for which session); the other states say their last error, if any.
      const why = row.status === 'not_delivered' ? row.notDeliveredReason : row.lastError;
      item.tooltip = block(`To ${inline(row.targetLabel)} · ${look.text}${why ? `\n${inline(why, 500)}` : ''}\nAttempts: ${row.attempts}`);
      item.contextValue = `outgoing.${row.status}`;
      return item;
    }
    const { conversation } = node;
    const pending = conversation.pending.length > 0;
    const item = new vscode.TreeItem(inline(conversation.label), pending ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None);
    // VS Code remembers a row's collapse state by id: a row that had no children would stay collapsed when pending
    // messages appear under it, so the pending variant gets its own id and opens expanded.
    item.id = `conversation:${node.meshId}:${conversation.key}${pending ? ':pending' : ''}`;
    const last = conversation.entries[conversation.entries.length - 1];
    const lastText = last ? `${last.direction === 'out' ? 'you: ' : ''}${last.text === null ? '[undecryptable]' : inline(last.text, 50)}` : '';
    item.description = conversation.unread > 0 ? `${conversation.unread} unread · ${lastText}` : lastText;
    item.tooltip = `${inline(conversation.label)} · ${plural(conversation.entries.length, 'message')}${conversation.unread ? `, ${conversation.unread} unread` : ''}`;
    item.iconPath = new vscode.ThemeIcon(conversation.unread > 0 ? 'mail' : CONVERSATION_ICON[conversation.kind]);
    item.contextValue = 'conversation';
    item.command = { command: 'claudemesh.openConversation', title: 'Open Conversation', arguments: [node] };
    return item;
  }
}
