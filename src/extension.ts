/**
 * Entry point. activate() only wires things up and returns; identities load and meshes connect in the background,
 * so a slow disk, a broken config or an unreachable broker never delays or fails activation.
 */
import * as vscode from 'vscode';
import { ChatPanels } from './views/chat/panel';
import type { App } from './views/app';
import { registerCommands } from './views/commands';
import { Conversations } from './views/conversations/model';
import { ClientFactory, Ctx } from './views/shared/ctx';
import { Documents, SCHEME } from './views/shared/documents';
import { memoryDocument } from './views/memories/document';
import { MemoriesView } from './views/memories/tree';
import { MessagesView } from './views/conversations/tree';
import { Notifications } from './views/conversations/notifications';
import { say, showError } from './views/shared/notify';
import { PeersView } from './views/peers/tree';
import { PeerListPoller } from './views/peers/presence';
import { skillDocument } from './views/skills/document';
import { SkillsView } from './views/skills/tree';
import { stateDocument } from './views/state/document';
import { StateView } from './views/state/tree';
import { StatusBar } from './views/statusBar';
import { WalkthroughProgress } from './views/walkthrough';
import { errorMessage } from './views/shared/text';

export interface Running {
  app: App;
  /** Resolves when the first identity load has finished and its meshes have started connecting. */
  ready: Promise<void>;
  dispose(): Promise<void>;
}

/** Timings tests shorten. */
export interface StartOptions {
  /** How long after a message toast further messages of that conversation wait to be shown together. */
  notificationQuietMs?: number;
}

/** Builds everything; `createClient` lets tests put a scripted client behind the real views and commands. */
export function start(context: vscode.ExtensionContext, createClient?: ClientFactory, options: StartOptions = {}): Running {
  const ctx = new Ctx(context, createClient);
  const conversations = new Conversations(ctx);
  const memories = new MemoriesView(ctx);
  const documents = new Documents(ctx, {
    skill: skillDocument,
    state: (client, ref) => stateDocument(client, ref, state.cache.peek(ref.meshId)?.get(ref.key)),
    memory: (_client, ref) => memoryDocument(memories.find(ref.meshId, ref.id)),
  });
  const peers = new PeersView(ctx);
  const messages = new MessagesView(ctx, conversations);
  const state = new StateView(ctx);
  const skills = new SkillsView(ctx);
  // Any of our views in sight keeps the peer list fresh (names, statuses and counts show in all of them).
  const presence = new PeerListPoller(ctx, [peers, messages, state, skills, memories].map((tree) => tree.view));
  const chats = new ChatPanels(ctx, conversations, context.extensionUri);
  const app: App = { context, ctx, conversations, chats, documents, memories, peers, messages, state, skills, presence };
  const disposables: vscode.Disposable[] = [
    conversations,
    app.chats,
    documents,
    memories,
    app.peers,
    app.messages,
    app.state,
    app.skills,
    app.presence,
    new StatusBar(ctx, conversations),
    new WalkthroughProgress(ctx, peers.view),
    new Notifications(ctx, conversations, options.notificationQuietMs),
    vscode.workspace.registerTextDocumentContentProvider(SCHEME, documents),
    ...registerCommands(app),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (['displayName', 'meshes', 'configPath', 'share'].some((key) => event.affectsConfiguration(`claudemesh.${key}`))) void ctx.reload();
    }),
  ];
  ctx.updateContextKeys();
  const ready = ctx.reload();
  let disposing: Promise<void> | undefined;
  return {
    app,
    ready,
    // Both deactivate() and context.subscriptions end here; the second call waits for the first.
    dispose() {
      disposing ??= (async () => {
        for (const d of disposables) d.dispose();
        await ctx.dispose();
      })();
      return disposing;
    },
  };
}

let running: Running | undefined;

/**
 * Returns the running app as `extension.exports` only to the extension-host test suite (ExtensionMode.Test): the app
 * holds the ExtensionContext (SecretStorage) and the clients (member secret keys), which no other extension may reach.
 */
export function activate(context: vscode.ExtensionContext): Running | undefined {
  try {
    running = start(context);
    const current = running;
    context.subscriptions.push({ dispose: () => void current.dispose() });
    return context.extensionMode === vscode.ExtensionMode.Test ? current : undefined;
  } catch (err) {
    // Nothing above should throw; if it does, say so once instead of leaving a half-working sidebar.
    void showError(say`Claudemesh could not start: ${errorMessage(err)}`);
    return undefined;
  }
}

/** VS Code awaits this on shutdown and reload: outbox writes are flushed and session leases released. */
export async function deactivate(): Promise<void> {
  const current = running;
  running = undefined;
  await current?.dispose();
}
