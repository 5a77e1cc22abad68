/**
 * The status bar item: mesh, connection state and peer count, with unread and queued counts. Its tooltip is trusted
 * Markdown limited to our own commands; every value in it that came from a config, the broker or a peer is escaped.
 */
import * as vscode from 'vscode';
import type { ConnectionState, MeshClientApi, OutboxRow } from '../broker/types';
import type { Conversations } from './conversations/model';
import type { Ctx } from './shared/ctx';
import { describeState } from './shared/meshTree';
import { plural, shortKey } from './shared/text';
import { inline, markdown } from './shared/untrusted';

/** The only commands a tooltip link may run. */
export const TOOLTIP_COMMANDS = ['claudemesh.chooseDefaultMesh', 'claudemesh.reconnect', 'claudemesh.connect', 'claudemesh.showLogs', 'claudemesh.openPeers', 'claudemesh.joinMesh'];

/** Worst first: the item shows the state that most needs attention. */
const SEVERITY: ConnectionState['kind'][] = ['failed', 'reconnecting', 'connecting', 'connected', 'disconnected'];

interface OutboxCounts {
  waiting: number;
  failed: number;
}

function countOutbox(rows: readonly OutboxRow[]): OutboxCounts {
  const counts = { waiting: 0, failed: 0 };
  for (const r of rows) {
    if (r.status === 'queued' || r.status === 'sending' || r.status === 'held') counts.waiting++;
    else if (r.status === 'failed') counts.failed++;
  }
  return counts;
}

/** A connection whose first peer list is still on its way shows as connecting: "0 peers" would be a guess, not a count. */
function shownKind(client: MeshClientApi): ConnectionState['kind'] {
  return client.state.kind === 'connected' && !client.peersListed ? 'connecting' : client.state.kind;
}

export class StatusBar implements vscode.Disposable {
  readonly item: vscode.StatusBarItem;
  private readonly subscriptions: vscode.Disposable[];
  private ticker: NodeJS.Timeout | undefined;
  /** Counted once per outbox change, so a message arriving (which changes no row) reads counts, not the outbox. */
  private readonly counts = new Map<string, OutboxCounts>();

  constructor(
    private readonly ctx: Ctx,
    private readonly conversations: Conversations,
  ) {
    this.item = vscode.window.createStatusBarItem('claudemesh.status', vscode.StatusBarAlignment.Left, 100);
    this.item.name = 'Claudemesh';
    this.item.command = 'claudemesh.openPeers';
    const update = () => this.update();
    this.subscriptions = [
      this.item,
      ctx.onDidChangeClients(() => {
        this.counts.clear();
        update();
      }),
      ctx.onDidChangeConnection(update),
      ctx.onDidChangePeers(update),
      ctx.onDidChangeOutbox((client) => {
        this.counts.delete(client.mesh.meshId);
        update();
      }),
      conversations.onDidChange(update),
    ];
    this.update();
    this.item.show();
  }

  update(now = Date.now()): void {
    const clients = this.ctx.clients;
    this.tickWhileReconnecting(clients);
    const tooltip = new vscode.MarkdownString('', true);
    tooltip.isTrusted = { enabledCommands: TOOLTIP_COMMANDS };
    tooltip.supportHtml = false;
    this.item.tooltip = tooltip;
    this.item.backgroundColor = undefined;

    if (clients.length === 0) {
      this.item.text = '$(broadcast) Claudemesh';
      tooltip.appendMarkdown(
        this.ctx.identities.length === 0
          ? '**Claudemesh**: no mesh joined.\n\n[Join Mesh from Invite Link](command:claudemesh.joinMesh) · [Show Logs](command:claudemesh.showLogs)'
          : '**Claudemesh**: no mesh selected in the `claudemesh.meshes` setting.\n\n[Show Logs](command:claudemesh.showLogs)',
      );
      return;
    }

    const worst = SEVERITY.find((kind) => clients.some((c) => shownKind(c) === kind)) ?? 'disconnected';
    const shown = clients.find((c) => shownKind(c) === worst)!;
    const label = clients.length === 1 ? inline(clients[0].mesh.slug, 40) : `${clients.length} meshes`;
    const peers = clients.filter((c) => shownKind(c) === 'connected').reduce((n, c) => n + c.otherPeerCount, 0);
    const head: Record<ConnectionState['kind'], string> = {
      connected: `$(broadcast) ${label} · ${plural(peers, 'peer')}`,
      connecting: `$(sync~spin) ${label} connecting…`,
      reconnecting: `$(sync~spin) ${label} ${describeState(shown.state, now)}`,
      failed: `$(warning) ${label}`,
      disconnected: `$(debug-disconnect) ${label} offline`,
    };
    // Do not disturb and hidden change what others see of you and what reaches you: keep them in sight.
    const own = clients.flatMap((c) => (shownKind(c) === 'connected' && c.ownRow ? [c.ownRow] : []));
    const away = [own.some((p) => p.status === 'dnd') ? '$(circle-slash) dnd' : '', own.some((p) => p.visible === false) ? '$(eye-closed) hidden' : ''];
    const unread = this.conversations.unreadTotal();
    const queued = clients.reduce((n, c) => n + this.countsOf(c).waiting, 0);
    this.item.text = [head[worst], ...away, unread ? `$(mail) ${unread}` : '', queued ? `$(clock) ${queued}` : ''].filter(Boolean).join('  ');
    if (worst === 'failed') this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
    this.item.accessibilityInformation = { label: `Claudemesh: ${label}, ${describeState(shown.state, now)}, ${unread} unread, ${queued} queued` };

    tooltip.appendMarkdown('**Claudemesh**\n\n');
    for (const client of clients) tooltip.appendMarkdown(this.describe(client, now) + '\n\n');
    const fallback = this.ctx.defaultMesh;
    if (clients.length > 1) {
      tooltip.appendMarkdown(`Default mesh: ${fallback ? `**${markdown(fallback.mesh.slug)}**` : 'none yet'} · [Change](command:claudemesh.chooseDefaultMesh)\n\n`);
    }
    tooltip.appendMarkdown('[Reconnect](command:claudemesh.reconnect) · [Show Logs](command:claudemesh.showLogs) · [Open Peers](command:claudemesh.openPeers)');
  }

  private describe(client: MeshClientApi, now: number): string {
    const { state } = client;
    const lines = [`**${markdown(client.mesh.slug)}**: ${markdown(describeState(state, now))}`];
    const name = state.kind === 'connected' ? state.displayName : this.ctx.displayName(client.mesh.meshId);
    lines.push(`as ${markdown(name || 'unnamed')} · member key ${markdown(shortKey(client.mesh.pubkey))} · session key ${markdown(shortKey(client.sessionPubkey))}`);
    if (state.kind === 'connected') lines.push(plural(client.otherPeerCount, 'other peer'));
    const { waiting, failed } = this.countsOf(client);
    lines.push(`Outbox: ${waiting} waiting, ${failed} failed`);
    const lastError = state.kind === 'failed' ? state.reason : state.kind === 'reconnecting' ? state.lastError : undefined;
    if (lastError) lines.push(`Last error: ${markdown(lastError, 400)}`);
    return lines.join('  \n');
  }

  private countsOf(client: MeshClientApi): OutboxCounts {
    let counts = this.counts.get(client.mesh.meshId);
    if (!counts) this.counts.set(client.mesh.meshId, (counts = countOutbox(client.outbox)));
    return counts;
  }

  /** A once-a-second refresh, only while a countdown is showing. */
  private tickWhileReconnecting(clients: MeshClientApi[]): void {
    const counting = clients.some((c) => c.state.kind === 'reconnecting');
    if (counting && !this.ticker) {
      this.ticker = setInterval(() => this.update(), 1000);
      this.ticker.unref?.();
    } else if (!counting && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = undefined;
    }
  }

  dispose(): void {
    clearInterval(this.ticker);
    for (const s of this.subscriptions) s.dispose();
  }
}
