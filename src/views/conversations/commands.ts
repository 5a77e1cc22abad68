/** The commands of conversations: send (from the palette, a peer, a selection), open, and what to do with a sent message. */
import * as vscode from 'vscode';
import type { MeshClientApi } from '../../broker/types';
import type { App, AppHandler, MeshHandler } from '../app';
import { wake } from '../app';
import { snippetOf } from '../chat/panel';
import { MemberNode, PeerNode } from '../peers/tree';
import { SCHEME } from '../shared/documents';
import { say, showInfo, showWarning } from '../shared/notify';
import { pickTarget, Target } from '../shared/picks';
import { plural } from '../shared/text';
import { inline } from '../shared/untrusted';
import { OutgoingNode } from './tree';

/** A conversation from a Messages node or a notification's `{meshId, key, label}`. */
function conversationOf(arg: unknown): { meshId: string; key: string; label?: string } | undefined {
  const candidate = arg as { meshId?: unknown; key?: unknown; label?: unknown; conversation?: { label: string } } | undefined;
  if (typeof candidate?.meshId !== 'string' || typeof candidate.key !== 'string') return undefined;
  const label = candidate.conversation?.label ?? (typeof candidate.label === 'string' ? candidate.label : undefined);
  return { meshId: candidate.meshId, key: candidate.key, label };
}

async function targetFromArg(client: MeshClientApi, arg: unknown, title: string): Promise<Target | undefined> {
  if (arg instanceof PeerNode) return { spec: arg.peer.pubkey, label: arg.peer.displayName };
  if (arg instanceof MemberNode) {
    // A member with several sessions: let the user pick which one, among just those.
    const sessions = arg.sessions.filter((s) => !s.self);
    if (sessions.length === 1) return { spec: sessions[0].peer.pubkey, label: sessions[0].peer.displayName };
    const picked = await vscode.window.showQuickPick(
      sessions.map((s) => ({ label: inline(s.peer.displayName), description: inline(s.peer.summary), detail: inline([s.peer.hostname, s.peer.cwd].filter(Boolean).join(' · ')), s })),
      { title, placeHolder: 'Which session?' },
    );
    return picked && { spec: picked.s.peer.pubkey, label: picked.s.peer.displayName };
  }
  const conversation = conversationOf(arg);
  if (conversation) return { spec: conversation.key, label: conversation.label ?? conversation.key };
  return pickTarget(client, title);
}

/** Send Message and Reply both lead to the conversation's chat panel, with the cursor in its composer. */
export const sendMessage: MeshHandler = async (app, client, arg) => {
  const target = await targetFromArg(client, arg, 'Send Message');
  if (target) app.chats.open({ meshId: client.mesh.meshId, key: target.spec, label: target.label }, { focusComposer: true });
};

/** The selection becomes a snippet card in the target's composer, to send with a note or as it is. */
export const sendSelection: MeshHandler = async (app, client, arg) => {
  const editor = vscode.window.activeTextEditor;
  // A skill, memory or state document is a peer's text under our scheme: sending it on would pass it off as a file.
  if (editor?.document.uri.scheme === SCHEME) {
    void showInfo(say`Claudemesh: this is a document from the mesh, not one of your files; select text in a file of your workspace.`);
    return;
  }
  const snippet = editor && snippetOf(editor);
  if (!snippet) {
    void showInfo(say`Claudemesh: select some text in an editor first.`);
    return;
  }
  const target = await targetFromArg(client, arg, 'Send Selection to Peer');
  if (target) app.chats.open({ meshId: client.mesh.meshId, key: target.spec, label: target.label }, { attach: snippet, focusComposer: true });
};

export async function openConversation(app: App, arg: unknown): Promise<void> {
  let ref = conversationOf(arg);
  if (!ref) {
    type Item = vscode.QuickPickItem & { ref: { meshId: string; key: string } };
    const items: Item[] = app.ctx.clients.flatMap((client) =>
      app.conversations.list(client).map((c) => ({
        label: inline(c.label),
        description: c.unread ? `${c.unread} unread` : '',
        detail: app.ctx.clients.length > 1 ? inline(client.mesh.slug) : undefined,
        ref: { meshId: client.mesh.meshId, key: c.key },
      })),
    );
    if (items.length === 0) {
      void showInfo(say`Claudemesh: no conversations yet.`);
      return;
    }
    ref = (await vscode.window.showQuickPick(items, { title: 'Open Conversation', matchOnDescription: true }))?.ref;
    if (!ref) return;
  }
  app.chats.open(ref);
}

async function onOutgoing(app: App, arg: unknown, action: 'retry' | 'discard'): Promise<void> {
  if (!(arg instanceof OutgoingNode)) {
    void showInfo(say`Claudemesh: use the ${action === 'retry' ? 'Retry' : 'Discard'} button on a message in the Messages view.`);
    return;
  }
  const client = app.ctx.client(arg.meshId);
  if (!client) return;
  if (action === 'retry') await client.retry(arg.row.clientMessageId);
  else await client.discard(arg.row.clientMessageId);
}

/** "Send to another session of <member>": the DM's member's live sessions, each with where it runs. */
export async function sendToAnotherSession(app: App, arg: unknown): Promise<void> {
  if (!(arg instanceof OutgoingNode)) {
    void showInfo(say`Claudemesh: use Send to Another Session on a message that was not delivered, in the Messages view.`);
    return;
  }
  const client = app.ctx.client(arg.meshId);
  if (!client) return;
  const row = client.outbox.find((r) => r.clientMessageId === arg.row.clientMessageId) ?? arg.row;
  const sessions = client.otherSessionsFor(row);
  const member = row.recipient?.name ?? row.targetLabel;
  if (sessions.length === 0) {
    void showInfo(say`Claudemesh: ${member} has no other session online right now.`);
    return;
  }
  const picked = await vscode.window.showQuickPick(
    sessions.map((peer) => ({
      label: inline(peer.displayName),
      description: inline([peer.hostname, peer.cwd].filter(Boolean).join(':')),
      detail: inline(peer.summary),
      peer,
    })),
    { title: `Send to another session of ${inline(member)}`, placeHolder: 'Each is a different Claude Code session: pick the one that should get it' },
  );
  if (!picked) return;
  await client.resendTo(row.clientMessageId, picked.peer.pubkey);
}

export async function discardFailed(app: App): Promise<void> {
  let count = 0;
  for (const client of app.ctx.clients) count += await client.discardFailed();
  void showInfo(count ? say`Claudemesh: discarded ${plural(count, 'failed message')}.` : say`Claudemesh: no failed messages.`);
}

export async function retryFailed(app: App): Promise<void> {
  let count = 0;
  for (const client of app.ctx.clients) count += await client.retryFailed();
  void showInfo(count ? say`Claudemesh: retrying ${plural(count, 'failed message')}.` : say`Claudemesh: no failed messages.`);
}

export const retryMessage: AppHandler = (app, arg) => onOutgoing(app, arg, 'retry');
export const discardMessage: AppHandler = (app, arg) => onOutgoing(app, arg, 'discard');
export const markAllRead: AppHandler = (app) => app.conversations.markAllRead();

/** Offline, Send Message says the message will be queued, and offers to connect first. */
export const sendMessageOffline: MeshHandler = async (app, client, arg) => {
  const choice = await showWarning(
    say`Claudemesh is not connected to ${client.mesh.slug}. A message sent now is queued and goes out once connected.`,
    'Connect',
    'Send Anyway',
  );
  if (choice === 'Connect') return wake(client);
  if (choice === 'Send Anyway') return sendMessage(app, client, arg);
};
