/**
 * The Peers view: everyone on the mesh except control-plane rows (CLI daemons, other tools' member connections).
 * Sessions of one member (e.g. a person's Claude Code sessions and this window) are grouped under that member.
 * Every string here comes from peers, so it goes only into plain-text labels, descriptions and tooltips.
 */
import * as vscode from 'vscode';
import type { MeshClientApi, Peer, PeerStatus } from '../../broker/types';
import type { Ctx } from '../shared/ctx';
import { MeshTree } from '../shared/meshTree';
import { plural, shortKey } from '../shared/text';
import { block, inline } from '../shared/untrusted';

export class PeerNode {
  readonly type = 'peer';
  constructor(
    readonly meshId: string,
    readonly peer: Peer,
    readonly self: boolean,
  ) {}
}

export class MemberNode {
  readonly type = 'member';
  constructor(
    readonly meshId: string,
    readonly memberPubkey: string,
    readonly sessions: PeerNode[],
  ) {}
}

type Node = PeerNode | MemberNode;

const STATUS_ICON: Record<PeerStatus, vscode.ThemeIcon> = {
  idle: new vscode.ThemeIcon('circle-filled', new vscode.ThemeColor('charts.green')),
  working: new vscode.ThemeIcon('gear', new vscode.ThemeColor('charts.yellow')),
  dnd: new vscode.ThemeIcon('circle-slash', new vscode.ThemeColor('charts.red')),
};

/** The rows a person cares about: sessions and services, not control-plane connections. */
export function visiblePeers(client: MeshClientApi): Peer[] {
  return client.peers.filter((p) => p.peerRole !== 'control-plane');
}

/** Plain text (the rule for peer text is block()), as every string here is the peer's own. */
export function peerTooltip(peer: Peer, self: boolean): string {
  const lines = [`${peer.displayName}${self ? ' (you)' : ''}`, `Status: ${peer.status}`];
  if (peer.summary) lines.push(`Summary: ${peer.summary}`);
  if (peer.groups.length) lines.push(`Groups: ${peer.groups.map((g) => `@${g.name}${g.role ? ` (${g.role})` : ''}`).join(', ')}`);
  if (peer.hostname) lines.push(`Host: ${peer.hostname}`);
  if (peer.cwd) lines.push(`Folder: ${peer.cwd}`);
  const kind = [peer.peerType && `type ${peer.peerType}`, peer.channel && `channel ${peer.channel}`, peer.model && `model ${peer.model}`, `role ${peer.peerRole}`];
  lines.push(kind.filter(Boolean).join(' · '));
  const profile = peer.profile;
  if (profile && (profile.title || profile.bio || profile.capabilities?.length)) {
    const parts = [profile.avatar, profile.title, profile.bio].filter(Boolean).join(' — ');
    lines.push(`Profile: ${parts}${profile.capabilities?.length ? ` (can: ${profile.capabilities.join(', ')})` : ''}`);
  }
  if (peer.visible === false) lines.push('Hidden from other members');
  lines.push(`Connected since ${peer.connectedAt}`, `Key ${shortKey(peer.pubkey)} · member ${shortKey(peer.memberPubkey)}`);
  return block(lines.join('\n'));
}

/**
 * "(you)" for this window's own session; "(you · other window)" or "(you · CLI)" for the other sessions of this
 * member: the user's other VS Code windows (our channel) and Claude Code or CLI sessions on the same identity.
 */
export function youSuffix(node: PeerNode, memberPubkey: string | undefined): string {
  if (node.self) return ' (you)';
  if (!memberPubkey || node.peer.memberPubkey !== memberPubkey) return '';
  return node.peer.channel === 'claudemesh-vscode' ? ' (you · other window)' : ' (you · CLI)';
}

export class PeersView extends MeshTree<Node> {
  constructor(ctx: Ctx) {
    super(ctx, 'claudemesh.peers', true);
    this.subscriptions.push(ctx.onDidChangePeers(() => this.refresh()));
  }

  override refresh(): void {
    const total = this.ctx.clients.filter((c) => c.state.kind === 'connected').reduce((n, c) => n + c.otherPeerCount, 0);
    this.view.description = this.ctx.clients.some((c) => c.state.kind === 'connected') ? plural(total, 'peer') : undefined;
    super.refresh();
  }

  protected override hasLastKnown(client: MeshClientApi): boolean {
    return client.peers.length > 0;
  }

  protected roots(client: MeshClientApi): Node[] {
    const meshId = client.mesh.meshId;
    const byMember = new Map<string, PeerNode[]>();
    for (const peer of visiblePeers(client)) {
      const node = new PeerNode(meshId, peer, peer.pubkey === client.sessionPubkey);
      byMember.set(peer.memberPubkey, [...(byMember.get(peer.memberPubkey) ?? []), node]);
    }
    const nodes: Node[] = [...byMember].map(([member, sessions]) => (sessions.length === 1 ? sessions[0] : new MemberNode(meshId, member, sessions)));
    const isSelf = (n: Node) => (n instanceof PeerNode ? n.self : n.sessions.some((s) => s.self));
    const name = (n: Node) => (n instanceof PeerNode ? n.peer.displayName : n.sessions[0].peer.displayName);
    return nodes.sort((a, b) => Number(isSelf(b)) - Number(isSelf(a)) || String(name(a)).localeCompare(String(name(b))));
  }

  protected override children(element: Node): Node[] {
    return element instanceof MemberNode ? element.sessions : [];
  }

  protected item(node: Node): vscode.TreeItem {
    if (node instanceof MemberNode) {
      const first = node.sessions[0].peer;
      const self = node.sessions.some((s) => s.self);
      const item = new vscode.TreeItem(`${inline(first.displayName)}${self ? ' (you)' : ''}`, vscode.TreeItemCollapsibleState.Expanded);
      item.id = `member:${node.meshId}:${node.memberPubkey}`;
      item.description = plural(node.sessions.length, 'session');
      item.iconPath = new vscode.ThemeIcon('person');
      item.tooltip = `${inline(first.displayName)}: ${plural(node.sessions.length, 'session')} of one member\nMember key ${inline(shortKey(node.memberPubkey))}`;
      item.contextValue = 'member';
      return item;
    }
    const { peer, self } = node;
    const item = new vscode.TreeItem(`${inline(peer.displayName)}${youSuffix(node, this.ctx.client(node.meshId)?.mesh.pubkey)}`);
    item.id = `peer:${node.meshId}:${peer.pubkey}`;
    // Our own words first, so a peer's summary cannot pass itself off as a state.
    const states = [peer.status === 'dnd' ? 'do not disturb' : '', peer.visible === false ? 'hidden' : ''].filter(Boolean);
    const said = inline([peer.summary ?? '', peer.hostname && !peer.summary ? peer.hostname : ''].filter(Boolean).join(' '));
    item.description = [states.length ? `(${states.join(', ')})` : '', said].filter(Boolean).join(' ');
    item.tooltip = peerTooltip(peer, self);
    item.iconPath = STATUS_ICON[peer.status] ?? STATUS_ICON.idle;
    item.contextValue = self ? 'peer.self' : 'peer';
    item.accessibilityInformation = { label: `${inline(peer.displayName)}, ${peer.status}${self ? ', you' : ''}` };
    // A click opens the conversation with that session (its chat panel).
    if (!self) item.command = { command: 'claudemesh.openConversation', title: 'Open Conversation', arguments: [{ meshId: node.meshId, key: peer.pubkey, label: peer.displayName }] };
    return item;
  }
}
