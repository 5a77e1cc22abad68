/**
 * Every command in one table, registered in one loop; each handler lives in its capability's `commands.ts`. A mesh
 * command has an online variant and, where being offline changes what makes sense, an offline one; without one, the
 * offline variant offers to connect. Any error ends in one message naming what failed, and in the log.
 */
import * as vscode from 'vscode';
import type { MeshClientApi } from '../broker/types';
import type { App, AppHandler, MeshHandler } from './app';
import { meshIdOf, wake } from './app';
import * as conversations from './conversations/commands';
import * as identities from './identities/commands';
import * as memories from './memories/commands';
import * as peers from './peers/commands';
import { say, showError, showWarning } from './shared/notify';
import { errorMessage } from './shared/text';
import * as skills from './skills/commands';
import * as state from './state/commands';

interface MeshCommand {
  id: string;
  online: MeshHandler;
  offline?: MeshHandler;
}
interface AppCommand {
  id: string;
  run: AppHandler;
}
type CommandSpec = MeshCommand | AppCommand;

export const COMMANDS: CommandSpec[] = [
  { id: 'claudemesh.connect', run: identities.connect },
  { id: 'claudemesh.disconnect', run: identities.disconnect },
  { id: 'claudemesh.reconnect', run: identities.reconnect },
  { id: 'claudemesh.joinMesh', run: identities.joinMesh },
  { id: 'claudemesh.chooseMeshes', run: identities.chooseMeshes },
  { id: 'claudemesh.openConfig', run: identities.openConfig },
  { id: 'claudemesh.chooseDefaultMesh', run: identities.chooseDefaultMesh },
  { id: 'claudemesh.openWalkthrough', run: identities.openWalkthrough },
  { id: 'claudemesh.showLogs', run: (app) => app.ctx.log.show() },
  { id: 'claudemesh.openPeers', run: peers.openPeers },
  { id: 'claudemesh.refreshPeers', run: peers.refreshPeers },
  { id: 'claudemesh.setStatus', online: peers.setStatus },
  { id: 'claudemesh.setSummary', online: peers.setSummary },
  { id: 'claudemesh.toggleVisibility', online: peers.toggleVisibility },
  { id: 'claudemesh.setProfile', online: peers.setProfile },
  { id: 'claudemesh.copyPublicKey', online: peers.copyPublicKey, offline: peers.copyPublicKey },
  { id: 'claudemesh.sendMessage', online: conversations.sendMessage, offline: conversations.sendMessageOffline },
  // Replying to a conversation needs no peer list, so it queues while offline.
  { id: 'claudemesh.reply', online: conversations.sendMessage, offline: conversations.sendMessage },
  { id: 'claudemesh.sendSelection', online: conversations.sendSelection },
  { id: 'claudemesh.openConversation', run: conversations.openConversation },
  { id: 'claudemesh.markAllRead', run: conversations.markAllRead },
  { id: 'claudemesh.retryMessage', run: conversations.retryMessage },
  { id: 'claudemesh.discardMessage', run: conversations.discardMessage },
  { id: 'claudemesh.sendToAnotherSession', run: conversations.sendToAnotherSession },
  { id: 'claudemesh.retryFailed', run: conversations.retryFailed },
  { id: 'claudemesh.discardFailed', run: conversations.discardFailed },
  { id: 'claudemesh.setState', online: state.setState },
  { id: 'claudemesh.editState', online: state.editStateEntry },
  { id: 'claudemesh.getState', online: state.openStateJson },
  { id: 'claudemesh.openStateJson', online: state.openStateJson },
  { id: 'claudemesh.copyStateValue', online: state.copyStateValue },
  { id: 'claudemesh.refreshState', online: state.refreshState },
  { id: 'claudemesh.shareSkill', online: skills.shareSkill },
  { id: 'claudemesh.openSkill', online: skills.openSkill },
  { id: 'claudemesh.removeSkill', online: skills.removeSkill },
  { id: 'claudemesh.refreshSkills', online: skills.refreshSkills },
  { id: 'claudemesh.remember', online: memories.remember },
  { id: 'claudemesh.recall', online: memories.recall },
  { id: 'claudemesh.forget', online: memories.forget },
  { id: 'claudemesh.openMemory', run: memories.openMemory },
];

/** The meshes whose "needs the broker" warning is showing: one at a time, however many commands the user tries. */
const offering = new Set<MeshClientApi>();

async function offerConnect(_app: App, client: MeshClientApi): Promise<void> {
  if (offering.has(client)) return;
  const { state } = client;
  const trying = state.kind === 'connecting' || state.kind === 'reconnecting';
  const why = state.kind === 'failed' ? say` (${state.reason})` : state.kind === 'reconnecting' ? say` (${state.lastError})` : say``;
  const message = trying
    ? say`Claudemesh is still connecting to ${client.mesh.slug}${why}; this needs the broker. Try again once connected.`
    : say`Claudemesh is not connected to ${client.mesh.slug}${why}; this needs the broker.`;
  const action = trying ? 'Reconnect Now' : 'Connect';
  offering.add(client);
  try {
    if ((await showWarning(message, action)) !== action) return;
    if (trying) client.reconnect();
    else wake(client);
  } finally {
    offering.delete(client);
  }
}

async function runCommand(app: App, spec: CommandSpec, arg: unknown): Promise<unknown> {
  try {
    if ('run' in spec) return await spec.run(app, arg);
    const client = await app.ctx.pickClient(meshIdOf(arg));
    if (!client) return undefined;
    const handler = client.state.kind === 'connected' ? spec.online : spec.offline ?? offerConnect;
    return await handler(app, client, arg);
  } catch (err) {
    app.ctx.log.error(`${spec.id} failed: ${errorMessage(err)}`);
    void showError(say`Claudemesh: ${errorMessage(err)}`, 'Show Logs').then((choice) => {
      if (choice === 'Show Logs') app.ctx.log.show();
    });
    return undefined;
  }
}

export function registerCommands(app: App): vscode.Disposable[] {
  return COMMANDS.map((spec) => vscode.commands.registerCommand(spec.id, (arg?: unknown) => runCommand(app, spec, arg)));
}
