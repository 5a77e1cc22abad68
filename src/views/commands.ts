/**
 * Every command in one table, registered in one loop. A mesh command has an online variant and, where being offline
 * changes what makes sense, an offline one; without one, the offline variant offers to connect. Any error ends in one
 * message naming what failed, and in the log.
 */
import * as path from 'path';
import * as vscode from 'vscode';
import { acceptInvite, InviteError, parseInviteLink } from '../broker/invite';
import type { MeshClientApi, PeerStatus, StateEntry } from '../broker/types';
import type { ChatPanels } from './chat/panel';
import { snippetOf } from './chat/panel';
import type { Conversations } from './conversations';
import { Ctx, readSettings } from './ctx';
import { docUri, Documents, parseDocUri, SCHEME, showDocument } from './documents';
import { isSelected, saveJoinedMesh } from './identities';
import type { MemoriesView } from './memoriesView';
import { MemoryNode } from './memoriesView';
import { MeshNode } from './meshTree';
import type { MessagesView } from './messagesView';
import { OutgoingNode } from './messagesView';
import { MemberNode, PeerNode } from './peersView';
import type { PeersView } from './peersView';
import type { PeerListPoller } from './presence';
import { askText, parseTags, pickPeer, pickTarget, Target } from './picks';
import type { SkillsView } from './skillsView';
import { SkillNode } from './skillsView';
import type { StateView } from './stateView';
import { StateNode } from './stateView';
import { confirm, say, showError, showInfo, showWarning } from './notify';
import { errorMessage, memberLabel, plural, when } from './text';
import { inline } from './untrusted';

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

/** `publisher.name#id` of the Getting Started walkthrough in package.json. */
const WALKTHROUGH = 'claudemesh.claudemesh-vscode#claudemesh.gettingStarted';

type MeshHandler = (app: App, client: MeshClientApi, arg: unknown) => Promise<unknown>;
interface MeshCommand {
  id: string;
  online: MeshHandler;
  offline?: MeshHandler;
}
interface AppCommand {
  id: string;
  /** May return a promise; the command waits for it. */
  run: (app: App, arg: unknown) => unknown;
}
type CommandSpec = MeshCommand | AppCommand;

/** Tree nodes, notification payloads and claudemesh: document URIs all say which mesh they belong to. */
function meshIdOf(arg: unknown): string | undefined {
  if (arg instanceof vscode.Uri) return parseDocUri(arg)?.meshId;
  if (arg && typeof arg === 'object' && typeof (arg as { meshId?: unknown }).meshId === 'string') return (arg as { meshId: string }).meshId;
  return undefined;
}

/** A conversation from a Messages node or a notification's `{meshId, key, label}`. */
function conversationOf(arg: unknown): { meshId: string; key: string; label?: string } | undefined {
  const candidate = arg as { meshId?: unknown; key?: unknown; label?: unknown; conversation?: { label: string } } | undefined;
  if (typeof candidate?.meshId !== 'string' || typeof candidate.key !== 'string') return undefined;
  const label = candidate.conversation?.label ?? (typeof candidate.label === 'string' ? candidate.label : undefined);
  return { meshId: candidate.meshId, key: candidate.key, label };
}

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

/** Connects a client, out of a terminal failure too (that needs a fresh start, not another attempt). */
function wake(client: MeshClientApi): void {
  if (client.state.kind === 'failed') client.reconnect();
  else client.connect();
}

function clientsFor(app: App, arg: unknown): MeshClientApi[] {
  const meshId = meshIdOf(arg);
  return meshId ? app.ctx.clients.filter((c) => c.mesh.meshId === meshId) : app.ctx.clients;
}

// ---- messages ------------------------------------------------------------------------------------------------

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

/** What the message prompt says about who can read it: only a DM is sealed for one session (docs/protocol.md §5). */
export function howItTravels(targetSpec: string): string {
  if (targetSpec === '*') return 'Sent to everyone on the mesh; every member can read it (not end-to-end encrypted)';
  if (targetSpec.startsWith('@')) return `Sent to the group ${inline(targetSpec)}; every member of the mesh can read it (not end-to-end encrypted)`;
  return 'Sent end-to-end encrypted: only this peer\'s session can read it';
}

/** Send Message and Reply both lead to the conversation's chat panel, with the cursor in its composer. */
const sendMessage: MeshHandler = async (app, client, arg) => {
  const target = await targetFromArg(client, arg, 'Send Message');
  if (target) app.chats.open({ meshId: client.mesh.meshId, key: target.spec, label: target.label }, { focusComposer: true });
};

/** The selection becomes a snippet card in the target's composer, to send with a note or as it is. */
const sendSelection: MeshHandler = async (app, client, arg) => {
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

async function openConversation(app: App, arg: unknown): Promise<void> {
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
async function sendToAnotherSession(app: App, arg: unknown): Promise<void> {
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

async function discardFailed(app: App): Promise<void> {
  let count = 0;
  for (const client of app.ctx.clients) count += await client.discardFailed();
  void showInfo(count ? say`Claudemesh: discarded ${plural(count, 'failed message')}.` : say`Claudemesh: no failed messages.`);
}

// ---- memories ------------------------------------------------------------------------------------------------

const remember: MeshHandler = async (app, client) => {
  const editor = vscode.window.activeTextEditor;
  const selected = editor && !editor.selection.isEmpty ? editor.document.getText(editor.selection) : '';
  // The selection is shown in the box before anything is stored: the user sees, and can trim, what every peer will read.
  const content = await askText('Remember', 'What the mesh will remember (every member can read it)', selected);
  if (!content) return;
  const tags = await vscode.window.showInputBox({ title: 'Tags (optional)', prompt: 'Comma-separated tags, e.g. build, release', ignoreFocusOut: true });
  if (tags === undefined) return;
  const tagList = parseTags(tags);
  const id = await client.remember(content, tagList);
  app.memories.remembered(client, { id, content, tags: tagList, rememberedBy: app.ctx.displayName(client.mesh.meshId), rememberedAt: new Date().toISOString() });
  void showInfo(say`Claudemesh: remembered in ${client.mesh.slug}.`);
};

const recall: MeshHandler = async (app, client) => {
  const query = await askText('Recall', 'Search the mesh memory (full-text; tags are not searched)');
  if (!query) return;
  const memories = await client.recall(query);
  app.memories.show(client, query, memories);
  if (memories.length === 0) {
    void showInfo(say`Claudemesh: nothing in ${client.mesh.slug}'s memory matches "${inline(query, 60)}".`);
    return;
  }
  const picked = await vscode.window.showQuickPick(
    memories.map((m) => ({ label: inline(m.content, 80), description: inline(m.tags.join(', ')), detail: inline([memberLabel(m.rememberedBy, client.peers), when(m.rememberedAt)].filter(Boolean).join(', ')), m })),
    { title: `Recall: ${plural(memories.length, 'memory', 'memories')}`, matchOnDescription: true, matchOnDetail: true },
  );
  if (!picked) return;
  const editor = vscode.window.activeTextEditor;
  const actions = [...(editor ? ['Insert at Cursor'] : []), 'Copy', 'Open'];
  const action = await vscode.window.showQuickPick(actions, { title: inline(picked.m.content, 60) });
  if (action === 'Insert at Cursor' && editor) await editor.edit((edit) => edit.replace(editor.selection, picked.m.content));
  if (action === 'Copy') await vscode.env.clipboard.writeText(picked.m.content);
  if (action === 'Open') await openMemory(app, new MemoryNode(client.mesh.meshId, picked.m));
};

async function openMemory(_app: App, arg: unknown): Promise<void> {
  if (!(arg instanceof MemoryNode)) return;
  await showDocument(docUri({ kind: 'memory', meshId: arg.meshId, id: arg.memory.id }, arg.memory.content));
}

const forget: MeshHandler = async (app, client, arg) => {
  let node = arg instanceof MemoryNode ? arg : undefined;
  if (!node) {
    const candidates = (await app.memories.getChildren(new MeshNode(client.mesh.meshId))).filter((n): n is MemoryNode => n instanceof MemoryNode);
    if (candidates.length === 0) {
      void showInfo(say`Claudemesh: run Recall first, then forget one of the memories it finds.`);
      return;
    }
    node = (await vscode.window.showQuickPick(candidates.map((n) => ({ label: inline(n.memory.content, 80), description: inline(n.memory.tags.join(', ')), n })), { title: 'Forget' }))?.n;
    if (!node) return;
  }
  if (!(await confirm(say`Forget "${inline(node.memory.content, 80)}" for everyone on ${client.mesh.slug}?`, 'Forget'))) return;
  await client.forget(node.memory.id);
  app.memories.removeMemory(node.meshId, node.memory.id);
};

// ---- shared state --------------------------------------------------------------------------------------------

/**
 * What the user typed as a shared-state value: JSON when it parses (42, true, {"a": 1}, "quoted"), else the text
 * itself, so "Friday 14:00" is stored as that string.
 */
export function parseStateValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** How a value is shown for editing, so that saving it unchanged stores the same value. */
export function stateValueText(value: unknown): string {
  // A string that would parse as something else ("42", "true", "[1]") keeps its quotes.
  return typeof value === 'string' && typeof parseStateValue(value) === 'string' ? value : JSON.stringify(value);
}

/** Why `text` cannot be a shared-state value, or undefined when it can. */
export function stateValueProblem(text: string): string | undefined {
  if (!text.trim()) return 'Type a value: text, or JSON such as 42, true or {"a": 1}.';
  return parseStateValue(text) === null ? 'The mesh cannot store null; use another value.' : undefined;
}

async function editState(client: MeshClientApi, key: string | undefined, current?: StateEntry): Promise<void> {
  const finalKey =
    key ??
    (await vscode.window.showInputBox({
      title: 'Set State: key',
      prompt: `A key in ${inline(client.mesh.slug)}'s shared state`,
      ignoreFocusOut: true,
      validateInput: (k) => (k.trim() ? undefined : 'The key cannot be empty.'),
    }));
  if (!finalKey) return;
  const value = await vscode.window.showInputBox({
    title: `Set State: ${inline(finalKey)}`,
    prompt: 'The value: text, or JSON such as 42, true or {"a": 1} (quote text that looks like JSON: "42")',
    value: current ? stateValueText(current.value) : '',
    ignoreFocusOut: true,
    validateInput: stateValueProblem,
  });
  if (value === undefined) return;
  await client.setState(finalKey.trim(), parseStateValue(value));
}

async function stateNodeOrPick(app: App, client: MeshClientApi, arg: unknown, title: string): Promise<StateNode | undefined> {
  if (arg instanceof StateNode) return arg;
  const entries = [...((await app.state.cache.get(client))?.values() ?? [])];
  if (entries.length === 0) {
    void showInfo(say`Claudemesh: ${client.mesh.slug} has no shared state yet.`);
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    entries.map((e) => ({ label: inline(e.key), description: inline(e.value, 80), e })),
    { title },
  );
  return picked && new StateNode(client.mesh.meshId, picked.e);
}

async function openStateJson(app: App, client: MeshClientApi, arg: unknown): Promise<void> {
  const node = await stateNodeOrPick(app, client, arg, 'Get State');
  if (!node) return;
  const uri = docUri({ kind: 'state', meshId: node.meshId, key: node.entry.key }, node.entry.key);
  app.documents.refresh(uri);
  await showDocument(uri);
}

// ---- skills --------------------------------------------------------------------------------------------------

/** SKILL.md style front matter (`name:`, `description:`, `tags:`), if the document has it. */
export function parseFrontMatter(text: string): { fields: Record<string, string>; body: string } {
  const match = /^---\r?\n([\s\S]*?)\r?\n---\r?\n?/.exec(text);
  if (!match) return { fields: {}, body: text };
  const fields: Record<string, string> = {};
  for (const line of match[1].split(/\r?\n/)) {
    const field = /^([A-Za-z_-]+):\s*(.*)$/.exec(line);
    if (field) fields[field[1].toLowerCase()] = field[2].replace(/^["']|["']$/g, '').trim();
  }
  return { fields, body: text.slice(match[0].length) };
}

const shareSkill: MeshHandler = async (app, client) => {
  const document = vscode.window.activeTextEditor?.document;
  if (!document || !document.getText().trim()) {
    void showInfo(say`Claudemesh: open the file with the skill's instructions (e.g. a SKILL.md) first.`);
    return;
  }
  const { fields, body } = parseFrontMatter(document.getText());
  const fallbackName = path.basename(document.uri.path).replace(/\.[^.]+$/, '').replace(/^SKILL$/i, path.basename(path.dirname(document.uri.path)));
  const name = await vscode.window.showInputBox({
    title: 'Share Skill: name',
    value: fields.name ?? fallbackName,
    ignoreFocusOut: true,
    validateInput: (n) => (/^[\w.-]+$/.test(n.trim()) ? undefined : 'Use letters, digits, dots, dashes and underscores.'),
  });
  if (!name) return;
  const description = await askText('Share Skill: description', 'One line: what the skill is for', fields.description ?? '');
  if (description === undefined) return;
  const tags = await vscode.window.showInputBox({ title: 'Share Skill: tags (optional)', value: (fields.tags ?? '').replace(/[[\]]/g, ''), ignoreFocusOut: true });
  if (tags === undefined) return;
  await client.shareSkill({ name: name.trim(), description: description.trim(), instructions: body, tags: parseTags(tags) });
  await app.skills.reload(client);
  void showInfo(say`Claudemesh: shared skill "${name.trim()}" with ${client.mesh.slug}.`);
};

async function skillNodeOrPick(app: App, client: MeshClientApi, arg: unknown, title: string): Promise<SkillNode | undefined> {
  if (arg instanceof SkillNode) return arg;
  const skills = (await app.skills.cache.get(client)) ?? [];
  if (skills.length === 0) {
    void showInfo(say`Claudemesh: ${client.mesh.slug} has no skills yet.`);
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(skills.map((s) => ({ label: inline(s.name), description: inline(s.description), s })), { title, matchOnDescription: true });
  return picked && new SkillNode(client.mesh.meshId, picked.s);
}

const openSkill: MeshHandler = async (app, client, arg) => {
  const node = await skillNodeOrPick(app, client, arg, 'Open Skill');
  if (!node) return;
  const uri = docUri({ kind: 'skill', meshId: node.meshId, name: node.skill.name }, node.skill.name);
  app.documents.refresh(uri);
  await showDocument(uri);
};

const removeSkill: MeshHandler = async (app, client, arg) => {
  const node = await skillNodeOrPick(app, client, arg, 'Remove Skill');
  if (!node) return;
  if (!(await confirm(say`Remove the skill "${node.skill.name}" from ${client.mesh.slug} for everyone?`, 'Remove'))) return;
  const removed = await client.removeSkill(node.skill.name);
  await app.skills.reload(client);
  if (!removed) void showInfo(say`Claudemesh: "${node.skill.name}" was already gone.`);
};

// ---- presence ------------------------------------------------------------------------------------------------

function ownRow(client: MeshClientApi) {
  return client.peers.find((p) => p.pubkey === client.sessionPubkey);
}

const setStatus: MeshHandler = async (_app, client) => {
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

const setSummary: MeshHandler = async (_app, client) => {
  const summary = await vscode.window.showInputBox({ title: 'Set Summary', prompt: 'What you are working on, shown next to your name', value: ownRow(client)?.summary ?? '', ignoreFocusOut: true });
  if (summary === undefined) return;
  await client.setSummary(summary.trim());
  await client.listPeers();
};

const toggleVisibility: MeshHandler = async (_app, client) => {
  const visible = ownRow(client)?.visible !== false;
  await client.setVisible(!visible);
  await client.listPeers();
  void showInfo(visible ? say`Claudemesh: you are now hidden from other members of ${client.mesh.slug}.` : say`Claudemesh: you are visible again on ${client.mesh.slug}.`);
};

const setProfile: MeshHandler = async (_app, client) => {
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

const copyPublicKey: MeshHandler = async (_app, client, arg) => {
  const key = arg instanceof PeerNode ? arg.peer.pubkey : arg instanceof MemberNode ? arg.memberPubkey : (await pickPeer(client, 'Copy Public Key'))?.pubkey;
  if (!key) return;
  await vscode.env.clipboard.writeText(key);
  vscode.window.setStatusBarMessage('Claudemesh: public key copied', 3000);
};

// ---- identities and connections ------------------------------------------------------------------------------

async function joinMesh(app: App): Promise<void> {
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

async function chooseMeshes(app: App): Promise<void> {
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

async function openConfig(app: App): Promise<void> {
  await app.ctx.reload();
  if (app.ctx.configExists) {
    await vscode.window.showTextDocument(vscode.Uri.file(app.ctx.configPath));
    return;
  }
  const join = 'Join Mesh from Invite Link';
  const choice = await showInfo(
    say`Claudemesh: there is no claudemesh config at ${app.ctx.configPath}. Join a mesh from an invite link, run "claudemesh join" in a terminal, or point the "claudemesh.configPath" setting at your config.`,
    join,
    'Open Settings',
  );
  if (choice === join) await vscode.commands.executeCommand('claudemesh.joinMesh');
  if (choice === 'Open Settings') await vscode.commands.executeCommand('workbench.action.openSettings', 'claudemesh');
}

async function connect(app: App, arg: unknown): Promise<void> {
  const clients = clientsFor(app, arg);
  if (clients.length === 0) {
    await app.ctx.pickClient();
    return;
  }
  for (const client of clients) wake(client);
}

async function retryFailed(app: App): Promise<void> {
  let count = 0;
  for (const client of app.ctx.clients) count += await client.retryFailed();
  void showInfo(count ? say`Claudemesh: retrying ${plural(count, 'failed message')}.` : say`Claudemesh: no failed messages.`);
}

// ---- the table -------------------------------------------------------------------------------------------------

export const COMMANDS: CommandSpec[] = [
  { id: 'claudemesh.connect', run: connect },
  { id: 'claudemesh.disconnect', run: (app, arg) => Promise.all(clientsFor(app, arg).map((c) => c.disconnect())) },
  { id: 'claudemesh.reconnect', run: (app, arg) => clientsFor(app, arg).forEach((c) => c.reconnect()) },
  { id: 'claudemesh.joinMesh', run: joinMesh },
  { id: 'claudemesh.chooseMeshes', run: chooseMeshes },
  { id: 'claudemesh.openConfig', run: openConfig },
  { id: 'claudemesh.showLogs', run: (app) => app.ctx.log.show() },
  { id: 'claudemesh.openPeers', run: () => vscode.commands.executeCommand('claudemesh.peers.focus') },
  { id: 'claudemesh.openWalkthrough', run: () => vscode.commands.executeCommand('workbench.action.openWalkthrough', WALKTHROUGH, false) },
  { id: 'claudemesh.retryFailed', run: retryFailed },
  { id: 'claudemesh.markAllRead', run: (app) => app.conversations.markAllRead() },
  {
    id: 'claudemesh.chooseDefaultMesh',
    run: async (app) => {
      const picked = await app.ctx.pickMesh('Default Mesh', 'The mesh commands use when nothing else says which');
      if (picked) await app.ctx.setDefaultMesh(picked);
    },
  },
  { id: 'claudemesh.retryMessage', run: (app, arg) => onOutgoing(app, arg, 'retry') },
  { id: 'claudemesh.discardMessage', run: (app, arg) => onOutgoing(app, arg, 'discard') },
  { id: 'claudemesh.sendToAnotherSession', run: sendToAnotherSession },
  { id: 'claudemesh.discardFailed', run: discardFailed },
  { id: 'claudemesh.openConversation', run: openConversation },
  { id: 'claudemesh.openMemory', run: openMemory },
  {
    id: 'claudemesh.sendMessage',
    online: sendMessage,
    offline: async (app, client, arg) => {
      const choice = await showWarning(
        say`Claudemesh is not connected to ${client.mesh.slug}. A message sent now is queued and goes out once connected.`,
        'Connect',
        'Send Anyway',
      );
      if (choice === 'Connect') return connect(app, client.mesh);
      if (choice === 'Send Anyway') return sendMessage(app, client, arg);
    },
  },
  // Replying to a conversation needs no peer list, so it queues while offline.
  { id: 'claudemesh.reply', online: sendMessage, offline: sendMessage },
  { id: 'claudemesh.sendSelection', online: sendSelection },
  { id: 'claudemesh.remember', online: remember },
  { id: 'claudemesh.recall', online: recall },
  { id: 'claudemesh.forget', online: forget },
  { id: 'claudemesh.setState', online: (_app, client) => editState(client, undefined) },
  {
    id: 'claudemesh.editState',
    online: async (app, client, arg) => {
      const node = await stateNodeOrPick(app, client, arg, 'Edit State');
      if (node) await editState(client, node.entry.key, node.entry);
    },
  },
  { id: 'claudemesh.getState', online: openStateJson },
  { id: 'claudemesh.openStateJson', online: openStateJson },
  {
    id: 'claudemesh.copyStateValue',
    online: async (app, client, arg) => {
      const node = await stateNodeOrPick(app, client, arg, 'Copy Value');
      if (!node) return;
      await vscode.env.clipboard.writeText(typeof node.entry.value === 'string' ? node.entry.value : JSON.stringify(node.entry.value, null, 2));
      // The status bar renders $(icons): the key goes through the untrusted-text rule.
      vscode.window.setStatusBarMessage(`Copied the value of ${inline(node.entry.key, 60)}`, 3000);
    },
  },
  { id: 'claudemesh.refreshPeers', run: (app) => app.presence.refreshNow() },
  {
    id: 'claudemesh.refreshState',
    online: async (app, client) => {
      await app.state.reload(client);
      app.documents.refreshOpened(client.mesh.meshId, (ref) => ref.kind === 'state');
    },
  },
  { id: 'claudemesh.shareSkill', online: shareSkill },
  { id: 'claudemesh.openSkill', online: openSkill },
  { id: 'claudemesh.removeSkill', online: removeSkill },
  {
    id: 'claudemesh.refreshSkills',
    online: async (app, client) => {
      await app.skills.reload(client);
      app.documents.refreshOpened(client.mesh.meshId, (ref) => ref.kind === 'skill');
    },
  },
  { id: 'claudemesh.setStatus', online: setStatus },
  { id: 'claudemesh.setSummary', online: setSummary },
  { id: 'claudemesh.toggleVisibility', online: toggleVisibility },
  { id: 'claudemesh.setProfile', online: setProfile },
  { id: 'claudemesh.copyPublicKey', online: copyPublicKey, offline: copyPublicKey },
];

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
