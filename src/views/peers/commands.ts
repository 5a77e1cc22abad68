/** The commands of your presence on a mesh (status, summary, visibility, profile) and of the peer list. */
import * as vscode from 'vscode';
import type { MeshClientApi, PeerStatus } from '../../broker/types';
import type { AppHandler, MeshHandler } from '../app';
import { say, showInfo } from '../shared/notify';
import { parseTags, pickPeer } from '../shared/picks';
import { MemberNode, PeerNode } from './tree';

function ownRow(client: MeshClientApi) {
  return client.peers.find((p) => p.pubkey === client.sessionPubkey);
}

export const setStatus: MeshHandler = async (_app, client) => {
  const current = ownRow(client)?.status;
  const statuses: { label: PeerStatus; description: string }[] = [
    { label: 'idle', description: 'Messages are delivered right away' },
    { label: 'working', description: 'Only "now" messages are delivered' },
    { label: 'dnd', description: 'Do not disturb: only "now" messages are delivered' },
  ];
  const picked = await vscode.window.showQuickPick(
    statuses.map((s) => ({ ...s, description: s.label === current ? `${s.description} (current)` : s.description })),
    { title: 'Set Status' },
  );
  if (!picked) return;
  await client.setStatus(picked.label);
  await client.listPeers();
};

export const setSummary: MeshHandler = async (_app, client) => {
  const summary = await vscode.window.showInputBox({ title: 'Set Summary', prompt: 'What you are working on, shown next to your name', value: ownRow(client)?.summary ?? '', ignoreFocusOut: true });
  if (summary === undefined) return;
  await client.setSummary(summary.trim());
  await client.listPeers();
};

export const toggleVisibility: MeshHandler = async (_app, client) => {
  const visible = ownRow(client)?.visible !== false;
  await client.setVisible(!visible);
  await client.listPeers();
  void showInfo(visible ? say`Claudemesh: you are now hidden from other members of ${client.mesh.slug}.` : say`Claudemesh: you are visible again on ${client.mesh.slug}.`);
};

export const setProfile: MeshHandler = async (_app, client) => {
  const current = ownRow(client)?.profile ?? {};
  const title = await vscode.window.showInputBox({ title: 'Set Profile: title', prompt: 'e.g. Backend, Reviewer', value: current.title ?? '', ignoreFocusOut: true });
  if (title === undefined) return;
  const bio = await vscode.window.showInputBox({ title: 'Set Profile: bio', prompt: 'One line about you', value: current.bio ?? '', ignoreFocusOut: true });
  if (bio === undefined) return;
  const capabilities = await vscode.window.showInputBox({
    title: 'Set Profile: capabilities',
    prompt: 'Comma-separated, e.g. review, deploy',
    value: (current.capabilities ?? []).join(', '),
    ignoreFocusOut: true,
  });
  if (capabilities === undefined) return;
  await client.setProfile({ ...(current.avatar ? { avatar: current.avatar } : {}), title: title.trim(), bio: bio.trim(), capabilities: parseTags(capabilities) });
  await client.listPeers();
};

export const copyPublicKey: MeshHandler = async (_app, client, arg) => {
  const key = arg instanceof PeerNode ? arg.peer.pubkey : arg instanceof MemberNode ? arg.memberPubkey : (await pickPeer(client, 'Copy Public Key'))?.pubkey;
  if (!key) return;
  await vscode.env.clipboard.writeText(key);
  vscode.window.setStatusBarMessage('Claudemesh: public key copied', 3000);
};

export const refreshPeers: AppHandler = (app) => app.presence.refreshNow();
export const openPeers: AppHandler = () => vscode.commands.executeCommand('claudemesh.peers.focus');
