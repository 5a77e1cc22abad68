/** Quick picks and input boxes shared by several commands. */
import * as vscode from 'vscode';
import type { MeshClientApi, Peer } from '../../broker/types';
import { EVERYONE } from '../conversations/model';
import { visiblePeers } from '../peers/tree';
import { plural } from './text';
import { inline } from './untrusted';

export interface Target {
  /** Wire targetSpec: a session pubkey, `@group` or `*`. */
  spec: string;
  label: string;
}

/** Peers (fuzzy on name, summary and host), then groups, then everyone. */
export async function pickTarget(client: MeshClientApi, title: string): Promise<Target | undefined> {
  const peers = visiblePeers(client).filter((p) => p.pubkey !== client.sessionPubkey);
  const groups = new Map<string, number>();
  for (const peer of client.peers) for (const g of peer.groups) groups.set(g.name, (groups.get(g.name) ?? 0) + 1);

  type Item = vscode.QuickPickItem & { target?: Target };
  const items: Item[] = peers.map((peer) => ({
    label: inline(peer.displayName),
    description: inline(peer.summary),
    detail: inline([peer.hostname, peer.status !== 'idle' ? peer.status : '', peer.cwd].filter(Boolean).join(' · ')),
    iconPath: new vscode.ThemeIcon('account'),
    target: { spec: peer.pubkey, label: peer.displayName },
  }));
  if (groups.size) items.push({ label: 'Groups', kind: vscode.QuickPickItemKind.Separator });
  for (const [name, count] of [...groups].sort()) {
    items.push({ label: `@${inline(name)}`, description: plural(count, 'member'), iconPath: new vscode.ThemeIcon('organization'), target: { spec: `@${name}`, label: `@${name}` } });
  }
  items.push(
    { label: 'Everyone', kind: vscode.QuickPickItemKind.Separator },
    { label: EVERYONE, description: 'Broadcast to every peer on the mesh', iconPath: new vscode.ThemeIcon('broadcast'), target: { spec: EVERYONE, label: 'everyone' } },
  );
  const picked = await vscode.window.showQuickPick(items, {
    title,
    placeHolder: peers.length ? 'Type a name, summary or host, an @group, or * for everyone' : 'No other peers online: pick a group or everyone',
    matchOnDescription: true,
    matchOnDetail: true,
  });
  return picked?.target;
}

export async function pickPeer(client: MeshClientApi, title: string): Promise<Peer | undefined> {
  const picked = await vscode.window.showQuickPick(
    visiblePeers(client).map((peer) => ({ label: inline(peer.displayName), description: inline(peer.summary), detail: inline(peer.hostname), peer })),
    { title, matchOnDescription: true, matchOnDetail: true },
  );
  return picked?.peer;
}

export function askText(title: string, prompt: string, value = ''): Thenable<string | undefined> {
  return vscode.window.showInputBox({
    title,
    prompt,
    value,
    ignoreFocusOut: true,
    validateInput: (text) => (text.trim() ? undefined : 'Type something first.'),
  });
}

/** Commas or spaces between tags; `#` prefixes dropped. */
export function parseTags(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).map((t) => t.replace(/^#/, '').trim()).filter(Boolean))];
}

