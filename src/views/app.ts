/**
 * What every command handler gets: the running app (each capability's tree, model and panel), and the few rules about
 * a command's argument that every capability shares. The command table itself is in commands.ts.
 */
import * as vscode from 'vscode';
import type { MeshClientApi } from '../broker/types';
import type { ChatPanels } from './chat/panel';
import type { Conversations } from './conversations/model';
import type { MessagesView } from './conversations/tree';
import type { MemoriesView } from './memories/tree';
import type { PeerListPoller } from './peers/presence';
import type { PeersView } from './peers/tree';
import type { Ctx } from './shared/ctx';
import { parseDocUri } from './shared/documents';
import type { Documents } from './shared/documents';
import type { SkillsView } from './skills/tree';
import type { StateView } from './state/tree';

export interface App {
  context: vscode.ExtensionContext;
  ctx: Ctx;
  conversations: Conversations;
  chats: ChatPanels;
  documents: Documents;
  peers: PeersView;
  messages: MessagesView;
  state: StateView;
  skills: SkillsView;
  memories: MemoriesView;
  presence: PeerListPoller;
}

/** A command that needs a mesh: run with the client the argument names, or the one the user picks. */
export type MeshHandler = (app: App, client: MeshClientApi, arg: unknown) => Promise<unknown>;
/** A command that needs no mesh. May return a promise; the command waits for it. */
export type AppHandler = (app: App, arg: unknown) => unknown;

/** Tree nodes, notification payloads and claudemesh: document URIs all say which mesh they belong to. */
export function meshIdOf(arg: unknown): string | undefined {
  if (arg instanceof vscode.Uri) return parseDocUri(arg)?.meshId;
  if (arg && typeof arg === 'object' && typeof (arg as { meshId?: unknown }).meshId === 'string') return (arg as { meshId: string }).meshId;
  return undefined;
}

/** The clients a command's argument names, or every client when it names none. */
export function clientsFor(app: App, arg: unknown): MeshClientApi[] {
  const meshId = meshIdOf(arg);
  return meshId ? app.ctx.clients.filter((c) => c.mesh.meshId === meshId) : app.ctx.clients;
}

/** Connects a client, out of a terminal failure too (that needs a fresh start, not another attempt). */
export function wake(client: MeshClientApi): void {
  if (client.state.kind === 'failed') client.reconnect();
  else client.connect();
}
