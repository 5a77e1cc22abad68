/** The commands of identities and connections: join a mesh, choose which to connect, the config, connect/disconnect. */
import * as vscode from 'vscode';
import { createEmptyConfig } from '../../broker/config';
import { acceptInvite, InviteError, parseInviteLink } from '../../broker/invite';
import type { App, AppHandler } from '../app';
import { clientsFor, wake } from '../app';
import { readSettings } from '../shared/ctx';
import { say, showError, showInfo } from '../shared/notify';
import { askText } from '../shared/picks';
import { errorMessage } from '../shared/text';
import { inline } from '../shared/untrusted';
import { WALKTHROUGH } from '../walkthrough';
import { isSelected, saveJoinedMesh } from './identities';


export async function joinMesh(app: App): Promise<void> {
  const link = await vscode.window.showInputBox({
    title: 'Join Mesh from Invite Link',
    prompt: "Paste a claudemesh invite link (https://claudemesh.com/i/…), a code, or an ic://join/… token. Its signature shows the link is intact; the broker's answer is what makes you a member.",
    ignoreFocusOut: true,
    validateInput: (value) => {
      if (!value.trim()) return 'Paste the invite link you were sent.';
      try {
        parseInviteLink(value.trim());
        return undefined;
      } catch (err) {
        return errorMessage(err);
      }
    },
  });
  if (!link) return;
  const settings = readSettings();
  const configured = settings.displayName || app.ctx.configDisplayName;
  const displayName =
    configured ||
    (await askText('Join Mesh: your display name', 'How other peers will see you (saved in the claudemesh.displayName setting)'));
  if (!displayName) return;

  let mesh;
  try {
    mesh = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Claudemesh: joining mesh' }, (progress) =>
      acceptInvite(link.trim(), {
        displayName,
        onProgress: (message) => progress.report({ message: inline(message, 200) }),
        alreadyJoined: (meshId) => {
          const joined = app.ctx.identities.find((i) => i.mesh.meshId === meshId);
          if (!joined) return undefined;
          return joined.source === 'cli' ? `it is in the claudemesh config, ${app.ctx.configPath}` : 'it was joined in VS Code';
        },
      }),
    );
  } catch (err) {
    app.ctx.log.warn(`Join failed: ${errorMessage(err)}`);
    void showError(err instanceof InviteError ? say`Claudemesh: ${err.message}` : say`Claudemesh: joining failed: ${errorMessage(err)}`);
    return;
  }
  await saveJoinedMesh(app.context, mesh);
  if (!settings.displayName) await vscode.workspace.getConfiguration('claudemesh').update('displayName', displayName, vscode.ConfigurationTarget.Global);
  if (!isSelected(mesh, settings.meshes)) {
    await vscode.workspace.getConfiguration('claudemesh').update('meshes', [...settings.meshes, mesh.slug], vscode.ConfigurationTarget.Global);
  }
  await app.ctx.reload();
  app.ctx.log.info(`Joined mesh ${mesh.slug} as member ${mesh.memberId}`);
  const choice = await showInfo(say`Claudemesh: joined mesh "${mesh.slug}": the broker accepted you as a member.`, 'Open Peers');
  if (choice === 'Open Peers') await vscode.commands.executeCommand('claudemesh.openPeers');
}

export async function chooseMeshes(app: App): Promise<void> {
  const identities = app.ctx.identities;
  if (identities.length === 0) {
    await app.ctx.pickClient();
    return;
  }
  const selection = readSettings().meshes;
  const picked = await vscode.window.showQuickPick(
    identities.map((i) => ({
      label: inline(i.mesh.slug),
      description: i.source === 'cli' ? 'from the claudemesh config' : 'joined in VS Code',
      detail: inline(i.mesh.brokerUrl),
      picked: isSelected(i.mesh, selection),
      slug: i.mesh.slug,
    })),
    { title: 'Choose Meshes to Connect', canPickMany: true },
  );
  if (!picked) return;
  // Everything picked is stored as "all", so meshes joined later connect too.
  const meshes = picked.length === identities.length ? [] : picked.map((p) => p.slug);
  await vscode.workspace.getConfiguration('claudemesh').update('meshes', meshes, vscode.ConfigurationTarget.Global);
}

/**
 * Opens the claudemesh config this window reads. With none there yet, offers to create an empty one at that path
 * (to fill with `claudemesh join` or by hand) or to join a mesh from an invite link here.
 */
export async function openConfig(app: App): Promise<void> {
  await app.ctx.reload();
  const file = app.ctx.configPath;
  if (!app.ctx.configExists) {
    const create = 'Create Empty Config';
    const join = 'Join Mesh from Invite Link';
    const choice = await showInfo(
      say`Claudemesh: there is no claudemesh config at ${file} yet. Create an empty one there (then run "claudemesh join" in a terminal, or join here), or join a mesh from an invite link, which keeps its key in VS Code.`,
      create,
      join,
    );
    if (choice === join) await vscode.commands.executeCommand('claudemesh.joinMesh');
    if (choice !== create) return;
    // False when a file appeared meanwhile (the CLI joined): that one is opened, never replaced.
    if (await createEmptyConfig(file)) app.ctx.log.info(`Created an empty claudemesh config at ${file}`);
    await app.ctx.reload();
  }
  await vscode.window.showTextDocument(vscode.Uri.file(file));
}

export async function connect(app: App, arg: unknown): Promise<void> {
  const clients = clientsFor(app, arg);
  if (clients.length === 0) {
    await app.ctx.pickClient();
    return;
  }
  for (const client of clients) wake(client);
}

export const disconnect: AppHandler = (app, arg) => Promise.all(clientsFor(app, arg).map((c) => c.disconnect()));
export const reconnect: AppHandler = (app, arg) => clientsFor(app, arg).forEach((c) => c.reconnect());
export const openWalkthrough: AppHandler = () => vscode.commands.executeCommand('workbench.action.openWalkthrough', WALKTHROUGH, false);

export const chooseDefaultMesh: AppHandler = async (app) => {
  const picked = await app.ctx.pickMesh('Default Mesh', 'The mesh commands use when nothing else says which');
  if (picked) await app.ctx.setDefaultMesh(picked);
};
