/**
 * One chat panel per conversation, in the editor area. A webview panel rather than a webview view: a conversation is
 * something you read and write in beside your code, several can sit side by side or in tabs, and each keeps its own
 * scroll position and draft; the sidebar keeps one view per slot and would have to swap conversations in place.
 *
 * The page (page.js, bundled into dist/chat.js) is a thin renderer: it shows HTML this side built from the view model (model.ts, render.ts;
 * peer text only through markdown.ts) and sends back user actions that name things by our own ids. Every action is
 * checked here: links are opened only if that message offered them, and after a modal that shows the target.
 */
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { MeshClientApi, Priority } from '../../broker/types';
import { Conversation, Conversations, EVERYONE, howItTravels, latestInbound, peerName, placeOf } from '../conversations/model';
import type { Ctx } from '../shared/ctx';
import { confirm, say, showError, showInfo, showWarning } from '../shared/notify';
import { inline } from '../shared/untrusted';
import { errorMessage, plural } from '../shared/text';
import { isAllowedLink } from './escape';
import { ChatItems } from './model';
import { absoluteTime, ChatRenderer } from './render';
import { formatSnippet, isSafeRelativePath, Snippet } from './snippet';

export const CHAT_VIEW_TYPE = 'claudemesh.chat';

export interface ChatRef {
  meshId: string;
  key: string;
  /** A name to show until the conversation has one of its own (e.g. a peer we have not written to yet). */
  label?: string;
}

interface Draft {
  text: string;
  priority: Priority;
  snippet?: Snippet;
}

const PRIORITIES: readonly Priority[] = ['now', 'next', 'low'];

/** What the page may send; anything else is dropped. */
type FromPage =
  | { type: 'ready' }
  | { type: 'resync' }
  | { type: 'send'; text: string; priority: Priority }
  | { type: 'draft'; text: string; priority: Priority }
  | { type: 'attach' }
  | { type: 'detach' }
  | { type: 'retry' | 'discard' | 'open-snippet'; id: string }
  | { type: 'copy' | 'insert'; id: string; code: number }
  | { type: 'link'; id: string; link: number };

function parseFromPage(raw: unknown): FromPage | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const m = raw as Record<string, unknown>;
  const str = (v: unknown) => typeof v === 'string' && v.length <= 200_000;
  const index = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;
  const priority = (v: unknown) => PRIORITIES.includes(v as Priority);
  switch (m.type) {
    case 'ready':
    case 'resync':
    case 'attach':
    case 'detach':
      return { type: m.type };
    case 'send':
    case 'draft':
      return str(m.text) && priority(m.priority) ? { type: m.type, text: m.text as string, priority: m.priority as Priority } : undefined;
    case 'retry':
    case 'discard':
    case 'open-snippet':
      return str(m.id) ? { type: m.type, id: m.id as string } : undefined;
    case 'copy':
    case 'insert':
      return str(m.id) && index(m.code) ? { type: m.type, id: m.id as string, code: m.code as number } : undefined;
    case 'link':
      return str(m.id) && index(m.link) ? { type: 'link', id: m.id as string, link: m.link as number } : undefined;
    default:
      return undefined;
  }
}

function refId(meshId: string, key: string): string {
  return `${meshId}\n${key}`;
}

function nonce(): string {
  return randomBytes(18).toString('base64');
}

export class ChatPanels implements vscode.Disposable {
  private readonly panels = new Map<string, ChatPanel>();
  private readonly subscriptions: vscode.Disposable[];
  /** The editor the user last worked in: Attach Selection and Insert at Cursor act on it while a panel has focus. */
  lastEditor: vscode.TextEditor | undefined = vscode.window.activeTextEditor;

  constructor(
    readonly ctx: Ctx,
    readonly conversations: Conversations,
    readonly extensionUri: vscode.Uri,
  ) {
    this.subscriptions = [
      conversations.onDidChange((meshId) => {
        for (const panel of this.panels.values()) if (!meshId || panel.ref.meshId === meshId) panel.update();
      }),
      ctx.onDidChangeConnection((client) => {
        for (const panel of this.panels.values()) if (panel.ref.meshId === client.mesh.meshId) panel.update();
      }),
      vscode.window.onDidChangeActiveTextEditor((editor) => {
        if (editor) this.lastEditor = editor;
      }),
      vscode.window.registerWebviewPanelSerializer(CHAT_VIEW_TYPE, {
        deserializeWebviewPanel: (panel, state: unknown) => {
          const ref = state as Partial<ChatRef> | undefined;
          if (typeof ref?.meshId !== 'string' || typeof ref.key !== 'string') panel.dispose();
          else this.adopt(panel, { meshId: ref.meshId, key: ref.key });
          return Promise.resolve();
        },
      }),
    ];
  }

  /** Opens (or reveals) the conversation's panel; `focusComposer` puts the cursor in its composer. */
  open(ref: ChatRef, options: { focusComposer?: boolean; attach?: Snippet } = {}): ChatPanel {
    let panel = this.panels.get(refId(ref.meshId, ref.key));
    if (panel) panel.webviewPanel.reveal(undefined, false);
    else {
      const webviewPanel = vscode.window.createWebviewPanel(CHAT_VIEW_TYPE, inline(ref.label ?? 'Claudemesh', 60), vscode.ViewColumn.Active, this.webviewOptions());
      panel = this.adopt(webviewPanel, ref);
    }
    if (options.attach) panel.attach(options.attach);
    if (options.focusComposer) panel.focusComposer();
    return panel;
  }

  get(meshId: string, key: string): ChatPanel | undefined {
    return this.panels.get(refId(meshId, key));
  }

  private webviewOptions(): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    return { enableScripts: true, retainContextWhenHidden: true, localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, 'media'), vscode.Uri.joinPath(this.extensionUri, 'dist')] };
  }

  private adopt(webviewPanel: vscode.WebviewPanel, ref: ChatRef): ChatPanel {
    webviewPanel.webview.options = this.webviewOptions();
    const panel = new ChatPanel(this, webviewPanel, ref);
    const id = refId(ref.meshId, ref.key);
    this.panels.set(id, panel);
    webviewPanel.onDidDispose(() => {
      this.panels.delete(id);
      panel.dispose();
    });
    return panel;
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    for (const panel of [...this.panels.values()]) panel.webviewPanel.dispose();
  }
}

export class ChatPanel {
  private readonly items = new ChatItems();
  private readonly renderer = new ChatRenderer();
  private readonly subscriptions: vscode.Disposable[] = [];
  /** The read marker as it was when the panel opened: the unread line stays where the user left off. */
  private unreadAfter: number | undefined;
  private ready = false;
  private pendingFocus = false;

  constructor(
    private readonly host: ChatPanels,
    readonly webviewPanel: vscode.WebviewPanel,
    readonly ref: ChatRef,
  ) {
    const webview = webviewPanel.webview;
    webview.html = this.html(webview);
    this.subscriptions.push(
      webview.onDidReceiveMessage((raw) => {
        const message = parseFromPage(raw);
        if (message) void this.onMessage(message).catch((err) => this.report(err));
      }),
      webviewPanel.onDidChangeViewState(() => this.noteReading()),
    );
    this.noteReading();
  }

  private get client(): MeshClientApi | undefined {
    return this.host.ctx.client(this.ref.meshId);
  }

  private conversation(client: MeshClientApi): Conversation {
    return (
      this.host.conversations.get(client, this.ref.key) ?? {
        meshId: this.ref.meshId,
        key: this.ref.key,
        kind: this.ref.key === EVERYONE ? 'everyone' : this.ref.key.startsWith('@') ? 'group' : 'direct',
        label: this.emptyLabel(client),
        entries: [],
        pending: [],
        unread: 0,
        lastAt: 0,
      }
    );
  }

  /** A conversation with no messages yet is named like one with messages: live name, then last known, then key. */
  private emptyLabel(client: MeshClientApi): string {
    const key = this.ref.key;
    if (key === EVERYONE) return 'Everyone';
    if (key.startsWith('@')) return key;
    return peerName(client, key, this.host.conversations.peerRecord(this.ref.meshId, key)?.name ?? this.ref.label);
  }

  /** The conversation's current messages, as a patch for the page. */
  update(): void {
    if (!this.ready) return;
    const client = this.client;
    if (!client) {
      void this.post({ type: 'header', header: { title: this.ref.label ?? 'Claudemesh', subtitle: '', banner: 'This mesh is not connected in this window. Check the "claudemesh.meshes" setting.' } });
      return;
    }
    const conversation = this.conversation(client);
    // What arrives while the user is looking at the panel is read, not "new" (unless the marker is already up, above it).
    if (this.unreadAfter === undefined) this.unreadAfter = this.readMarker(client);
    else if (this.isReading() && !this.items.hasUnreadLine) this.unreadAfter = Math.max(this.unreadAfter, latestInbound(conversation));
    const online = client.state.kind === 'connected';
    const now = Date.now();
    // Only what changed is built and rendered: after a new message, that message (and a day line above it).
    const kept = this.items.update({ entries: conversation.entries, unreadAfter: this.unreadAfter, recipient: conversation.label, online, now });
    const patch = this.renderer.patch(this.items.items, now, kept);
    // A tab title shows no markup, but it is still outside text: one line, invisible characters marked.
    this.webviewPanel.title = inline(conversation.label, 60);
    void this.post({ type: 'header', header: this.header(client, conversation) });
    void this.post({ type: 'patch', ...patch });
    if (this.isReading()) void this.host.conversations.markRead(client, this.ref.key);
  }

  private readMarker(client: MeshClientApi): number {
    const markers = this.host.ctx.context.workspaceState.get<Record<string, number>>(`claudemesh.readMarkers/${client.mesh.meshId}`, {});
    return markers[this.ref.key] ?? 0;
  }

  private header(client: MeshClientApi, conversation: Conversation): { title: string; subtitle: string; banner: string; composerLabel: string; composerHint: string } {
    const state = client.state;
    const banner =
      state.kind === 'connected'
        ? ''
        : state.kind === 'failed'
          ? `Not connected to ${client.mesh.slug}: ${state.reason}. Messages you send are queued.`
          : `Offline (${state.kind}). Messages you send are queued and go out once connected.`;
    // The page sets these as text; they still get the one-line rule of every other surface (marks, no link syntax).
    return { title: inline(conversation.label, 200), subtitle: inline(this.subtitle(client, conversation), 300), banner: inline(banner, 300), composerLabel: inline(`Message to ${conversation.label}`, 200), composerHint: `${howItTravels(this.ref.key)}. Enter sends, Shift+Enter for a new line.` };
  }

  private subtitle(client: MeshClientApi, conversation: Conversation): string {
    if (conversation.kind === 'everyone') return `Broadcasts and group messages you received on ${client.mesh.slug} (the broker does not say which group)`;
    if (conversation.kind === 'group') return `Messages you sent to ${conversation.key} on ${client.mesh.slug}; answers arrive in Everyone`;
    const peer = client.peers.find((p) => p.pubkey === this.ref.key);
    if (!peer) {
      const left = this.host.conversations.peerRecord(this.ref.meshId, this.ref.key)?.leftAt;
      return left ? `offline since ${absoluteTime(left)}` : 'offline';
    }
    const where = placeOf(peer.hostname, peer.cwd);
    const sessions = client.peers.filter((p) => p.memberPubkey === peer.memberPubkey && p.peerRole !== 'control-plane').length;
    return [peer.status, where, sessions > 1 ? `one of ${plural(sessions, 'session')} of this member` : ''].filter(Boolean).join(' · ');
  }

  private isReading(): boolean {
    return this.webviewPanel.active && this.webviewPanel.visible;
  }

  private noteReading(): void {
    this.host.conversations.setReading(this.ref.meshId, this.ref.key, this.isReading());
    const client = this.client;
    if (this.isReading() && client && this.ready) void this.host.conversations.markRead(client, this.ref.key);
  }

  focusComposer(): void {
    if (this.ready) void this.post({ type: 'focus' });
    else this.pendingFocus = true;
  }

  attach(snippet: Snippet): void {
    void this.saveDraft({ ...this.draft(), snippet });
    void this.post({ type: 'attachment', attachment: attachmentLabel(snippet) });
  }

  private draftKey(): string {
    return `claudemesh.drafts/${this.ref.meshId}`;
  }

  private draft(): Draft {
    return this.host.ctx.context.workspaceState.get<Record<string, Draft>>(this.draftKey(), {})[this.ref.key] ?? { text: '', priority: 'next' };
  }

  private async saveDraft(draft: Draft | undefined): Promise<void> {
    const drafts = { ...this.host.ctx.context.workspaceState.get<Record<string, Draft>>(this.draftKey(), {}) };
    if (draft && (draft.text || draft.snippet || draft.priority !== 'next')) drafts[this.ref.key] = draft;
    else delete drafts[this.ref.key];
    await this.host.ctx.context.workspaceState.update(this.draftKey(), drafts);
  }

  private draftForPage(draft: Draft): { text: string; priority: Priority; attachment?: string } {
    return { text: draft.text, priority: draft.priority, attachment: draft.snippet && attachmentLabel(draft.snippet) };
  }

  private post(message: unknown): Thenable<boolean> {
    return this.webviewPanel.webview.postMessage(message);
  }

  private async onMessage(message: FromPage): Promise<void> {
    const client = this.client;
    switch (message.type) {
      case 'ready': {
        this.ready = true;
        this.renderer.reset();
        this.webviewPanel.webview.postMessage({ type: 'state', state: { meshId: this.ref.meshId, key: this.ref.key } });
        void this.post({ type: 'draft', draft: this.draftForPage(this.draft()) });
        this.update();
        if (this.pendingFocus) this.focusComposer();
        this.pendingFocus = false;
        this.noteReading();
        return;
      }
      case 'resync':
        // The page did not show what the last patches assumed: send it everything, as after a reload.
        this.host.ctx.log.warn('chat panel: the page asked for every message again (it missed a patch)');
        this.renderer.reset();
        this.update();
        return;
      case 'draft':
        return this.saveDraft({ ...this.draft(), text: message.text, priority: message.priority });
      case 'send':
        return this.send(message.text, message.priority);
      case 'attach': {
        const snippet = this.host.lastEditor && snippetOf(this.host.lastEditor);
        if (!snippet) {
          void showInfo(say`Claudemesh: select some text in an editor first, then attach it.`);
          return;
        }
        return this.attach(snippet);
      }
      case 'detach': {
        const { snippet: _dropped, ...rest } = this.draft();
        await this.saveDraft(rest);
        void this.post({ type: 'attachment' });
        return;
      }
    }
    const rendered = this.renderer.find(message.id);
    if (!rendered || rendered.item.type !== 'message' || !client) return;
    const item = rendered.item;
    switch (message.type) {
      case 'retry':
        if (item.clientMessageId && item.status?.retry) await client.retry(item.clientMessageId);
        return;
      case 'discard':
        if (item.clientMessageId && item.status?.discard) await client.discard(item.clientMessageId);
        return;
      case 'copy': {
        const code = rendered.code[message.code];
        if (code === undefined) return;
        await vscode.env.clipboard.writeText(code);
        vscode.window.setStatusBarMessage('Claudemesh: code copied', 3000);
        return;
      }
      case 'insert': {
        const code = rendered.code[message.code];
        const editor = this.host.lastEditor;
        if (code === undefined) return;
        if (!editor) {
          void showInfo(say`Claudemesh: open an editor and place the cursor first.`);
          return;
        }
        await vscode.window.showTextDocument(editor.document, { viewColumn: editor.viewColumn, preserveFocus: false });
        await editor.edit((edit) => edit.replace(editor.selection, code));
        return;
      }
      case 'link':
        return openLink(rendered.links[message.link]);
      case 'open-snippet':
        if (item.snippet) await openSnippet(item.snippet.snippet);
        return;
    }
  }

  private async send(text: string, priority: Priority): Promise<void> {
    const client = this.client;
    if (!client) {
      void showError(say`Claudemesh: this mesh is not connected in this window.`);
      return;
    }
    const draft = this.draft();
    const body = [text.trim(), draft.snippet ? formatSnippet(draft.snippet) : ''].filter(Boolean).join('\n\n');
    if (!body) return;
    const conversation = this.conversation(client);
    // Cleared before sending: a second Enter while the send is in flight must not send the draft twice.
    await this.saveDraft(undefined);
    void this.post({ type: 'draft', draft: { text: '', priority } });
    try {
      await client.send(this.ref.key, body, { priority, label: conversation.label });
    } catch (err) {
      // Nothing was queued: the page drops its "queued" echo, and the text goes back into the composer.
      void this.post({ type: 'send-failed' });
      await this.saveDraft({ ...draft, text, priority });
      void this.post({ type: 'draft', draft: this.draftForPage({ ...draft, text, priority }) });
      throw err;
    }
    void this.post({ type: 'sent' });
  }

  private report(err: unknown): void {
    this.host.ctx.log.error(`chat panel: ${errorMessage(err)}`);
    void showError(say`Claudemesh: ${errorMessage(err)}`);
  }

  private html(webview: vscode.Webview): string {
    // The style sheet is a file of ours in media/; the script is esbuild's bundle of page.js in dist/.
    const resource = (...segments: string[]) => webview.asWebviewUri(vscode.Uri.joinPath(this.host.extensionUri, ...segments)).toString();
    const n = nonce();
    const csp = `default-src 'none'; style-src ${webview.cspSource}; script-src 'nonce-${n}'; img-src 'none'; font-src 'none'; connect-src 'none'; frame-src 'none'; form-action 'none'; base-uri 'none'`;
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${resource('media', 'chat.css')}">
<title>Claudemesh chat</title>
</head>
<body>
<header class="chat-head"><h1 id="title"></h1><p id="subtitle"></p></header>
<div id="banner" role="status" hidden></div>
<main id="list" role="log" aria-live="polite" aria-relevant="additions" aria-label="Messages" tabindex="0"></main>
<button type="button" id="pill" hidden>New messages ↓</button>
<form id="composer" aria-label="Composer">
<div id="attachment" hidden><span id="attachment-label"></span><button type="button" id="detach" aria-label="Remove the attached snippet">×</button></div>
<textarea id="input" rows="2" aria-label="Message" placeholder="Message (Enter sends, Shift+Enter for a new line)"></textarea>
<div class="composer-bar">
<div role="radiogroup" aria-label="Priority" id="priority">
<button type="button" role="radio" data-priority="now" title="Delivered even while the peer is working">now</button>
<button type="button" role="radio" data-priority="next" title="Default: delivered when the peer is idle">next</button>
<button type="button" role="radio" data-priority="low" title="Delivered when the peer is idle; no hurry">low</button>
</div>
<button type="button" id="attach" title="Attach the selection of the last editor you used">Attach Selection</button>
<button type="submit" id="send">Send</button>
</div>
</form>
<script nonce="${n}" src="${resource('dist', 'chat.js')}"></script>
</body>
</html>`;
  }

  dispose(): void {
    this.host.conversations.setReading(this.ref.meshId, this.ref.key, false);
    for (const s of this.subscriptions) s.dispose();
  }
}

function attachmentLabel(s: Snippet): string {
  return `${s.path} · ${s.start === s.end ? `line ${s.start}` : `lines ${s.start}–${s.end}`}${s.language ? ` · ${s.language}` : ''}`;
}

/** The selection (or the whole file) as a snippet; undefined when it is only whitespace. */
export function snippetOf(editor: vscode.TextEditor): Snippet | undefined {
  const { selection, document } = editor;
  const code = document.getText(selection.isEmpty ? undefined : selection);
  if (!code.trim()) return undefined;
  const start = selection.isEmpty ? 1 : selection.start.line + 1;
  const end = selection.isEmpty ? document.lineCount : selection.end.character === 0 && selection.end.line > selection.start.line ? selection.end.line : selection.end.line + 1;
  return { path: vscode.workspace.asRelativePath(document.uri), start, end, language: document.languageId === 'plaintext' ? '' : document.languageId, code: code.replace(/\n$/, '') };
}

/** Opens a peer's link only if it is https:/mailto: and the user confirmed the exact target. */
async function openLink(href: string | undefined): Promise<void> {
  if (!href || !isAllowedLink(href)) return;
  // The target goes in the modal's detail, whole: a modal shows plain text, and a cut URL would hide where it goes.
  if (await confirm(say`Open a link from a peer?`, 'Open Link', href)) await vscode.env.openExternal(vscode.Uri.parse(href, true));
}

/**
 * "Open at lines": the snippet's path in one of this window's workspace folders, with the range selected. Says so
 * when no folder has the file, or when those lines no longer read as the snippet does.
 */
export async function openSnippet(snippet: Snippet): Promise<void> {
  const where = `${snippet.path}:${snippet.start === snippet.end ? snippet.start : `${snippet.start}-${snippet.end}`}`;
  if (!isSafeRelativePath(snippet.path)) {
    void showWarning(say`Claudemesh: "${snippet.path}" is not a workspace-relative path; nothing was opened.`);
    return;
  }
  const uri = await findInWorkspace(snippet.path);
  if (!uri) {
    void showInfo(say`Claudemesh: ${snippet.path} is not in this workspace.`);
    return;
  }
  const document = await vscode.workspace.openTextDocument(uri);
  const last = Math.min(snippet.end, document.lineCount);
  const range = new vscode.Range(new vscode.Position(Math.min(snippet.start, document.lineCount) - 1, 0), new vscode.Position(last - 1, document.lineAt(last - 1).text.length));
  const editor = await vscode.window.showTextDocument(document, { selection: range, preview: false });
  editor.revealRange(range);
  const current = document.getText(range).replace(/\r\n/g, '\n');
  if (snippet.end > document.lineCount || current !== snippet.code.replace(/\r\n/g, '\n')) {
    void showInfo(say`Claudemesh: ${where} differs in your copy of the file; the lines are selected as they are now.`);
  }
}

/** The first workspace folder that has `relative` as a file, resolved without leaving the folder (no symlink escape). */
async function findInWorkspace(relative: string): Promise<vscode.Uri | undefined> {
  for (const folder of vscode.workspace.workspaceFolders ?? []) {
    const uri = vscode.Uri.joinPath(folder.uri, ...relative.split('/'));
    try {
      const stat = await vscode.workspace.fs.stat(uri);
      if ((stat.type & vscode.FileType.File) === 0) continue;
      if (uri.scheme === 'file') {
        const root = await fs.promises.realpath(folder.uri.fsPath);
        const real = await fs.promises.realpath(uri.fsPath);
        const inside = path.relative(root, real);
        if (inside.startsWith('..') || path.isAbsolute(inside)) continue;
      }
      return uri;
    } catch {
      continue;
    }
  }
  return undefined;
}
