/**
 * Read-only virtual documents under the `claudemesh:` scheme: conversations, skills, shared-state values and memories.
 *
 * Everything in them is peer-authored, so they are plain text (a shared-state value: JSON), never Markdown: VS Code's
 * Markdown support makes `[x](command:…)` links in a `.md` document Ctrl+clickable, and its preview renders HTML and
 * fetches images. A plain-text document renders nothing; what it would still link (http, https and file URLs) is
 * defanged by untrusted.ts. The language is ours, not the peer's: the file name is a sanitised title plus a fixed
 * suffix (a peer's "Makefile" or "notes.md" picks no language), the first line is always our own (VS Code also
 * guesses a language from the first line), and showDocument sets the language once more after opening.
 */
import * as vscode from 'vscode';
import type { Memory, OutboxStatus, Skill } from '../../broker/types';
import type { Conversation, ConversationEntry, Conversations } from '../conversations/model';
import type { Ctx } from './ctx';
import { documentJson, documentLine, documentText, inline } from './untrusted';

export const SCHEME = 'claudemesh';

export type DocRef =
  | { kind: 'chat'; meshId: string; key: string }
  | { kind: 'skill'; meshId: string; name: string }
  | { kind: 'state'; meshId: string; key: string }
  | { kind: 'memory'; meshId: string; id: string };

/** The fixed end of each document's file name: it decides the language (plaintext, or json for state values). */
const SUFFIX: Record<DocRef['kind'], string> = { chat: ' (conversation)', skill: ' (skill)', state: ' (shared state).json', memory: ' (memory)' };
const LANGUAGE: Record<DocRef['kind'], string> = { chat: 'plaintext', skill: 'plaintext', state: 'json', memory: 'plaintext' };

/** The first line of every plain-text document: ours, so no language is guessed from a peer's first line. */
const READ_ONLY_NOTE = 'shown as plain text; links in it are disabled';

/**
 * `title` names the editor tab; it is untrusted, so only letters, digits, spaces, dashes and underscores are kept
 * (no dot: no extension, no path), and the kind's fixed suffix ends the name. The `/<kind>/` folder is what the
 * manifest's `resourcePath` when-clauses match.
 */
export function docUri(ref: DocRef, title: string): vscode.Uri {
  const safeTitle = inline(title, 40).replace(/[^\p{L}\p{N} _-]/gu, '_').trim() || ref.kind;
  const { kind, meshId, ...rest } = ref;
  const query = new URLSearchParams({ kind, mesh: meshId, id: Object.values(rest)[0] }).toString();
  return vscode.Uri.from({ scheme: SCHEME, path: `/${kind}/${safeTitle}${SUFFIX[kind]}`, query });
}

/** Opens a claudemesh document read-only, in the language its kind has (never one a peer's text suggests). */
export async function showDocument(uri: vscode.Uri, options: vscode.TextDocumentShowOptions = { preview: true }): Promise<void> {
  const ref = parseDocUri(uri);
  let document = await vscode.workspace.openTextDocument(uri);
  if (ref && document.languageId !== LANGUAGE[ref.kind]) document = await vscode.languages.setTextDocumentLanguage(document, LANGUAGE[ref.kind]);
  await vscode.window.showTextDocument(document, options);
}

export function parseDocUri(uri: vscode.Uri): DocRef | undefined {
  if (uri.scheme !== SCHEME) return undefined;
  const params = new URLSearchParams(uri.query);
  const meshId = params.get('mesh');
  const id = params.get('id');
  if (!meshId || id === null) return undefined;
  switch (params.get('kind')) {
    case 'chat':
      return { kind: 'chat', meshId, key: id };
    case 'skill':
      return { kind: 'skill', meshId, name: id };
    case 'state':
      return { kind: 'state', meshId, key: id };
    case 'memory':
      return { kind: 'memory', meshId, id };
    default:
      return undefined;
  }
}

const STATUS_TEXT: Record<OutboxStatus, string> = {
  queued: 'queued',
  sending: 'sending',
  sent: 'sent',
  delivered: 'delivered',
  not_delivered: 'not delivered',
  held: 'held until the peer is online',
  unknown: 'may not have been sent',
  failed: 'failed',
};

function timestamp(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function renderConversation(conversation: Conversation, meshSlug: string): string {
  const heading =
    conversation.kind === 'direct'
      ? `Direct messages with ${documentLine(conversation.label)}`
      : conversation.kind === 'group'
        ? `Messages to ${documentLine(conversation.key)}`
        : 'Broadcasts and group messages (the broker does not say which group a received message was sent to)';
  const lines = [`Claudemesh conversation, ${READ_ONLY_NOTE}.`, `${heading} — mesh ${documentLine(meshSlug)}`, 'Reply with the "Claudemesh: Reply" button in this editor\'s title bar.', ''];
  for (const entry of conversation.entries) lines.push(renderEntry(entry));
  if (conversation.entries.length === 0) lines.push('No messages yet.');
  return lines.join('\n');
}

/** One message's lines in a conversation document, joined, with the blank line that ends it. */
function renderEntry(entry: ConversationEntry): string {
  let head = `[${timestamp(entry.at)}] ${documentLine(entry.from)}`;
  if (entry.row) {
    head += ` → ${documentLine(entry.row.targetLabel)}`;
    head += ` (${STATUS_TEXT[entry.row.status] ?? entry.row.status}${entry.row.status === 'failed' && entry.row.lastError ? `: ${documentLine(entry.row.lastError, 300)}` : ''})`;
  }
  if (entry.message && entry.message.priority !== 'next') head += ` [${entry.message.priority}]`;
  const body = entry.text === null ? '[this message could not be decrypted]' : documentText(entry.text);
  return [head + ':', ...body.split('\n').map((line) => '    ' + line), ''].join('\n');
}

const RULE = '─'.repeat(60);

export function renderSkill(skill: Skill, meshSlug: string): string {
  return [
    `Claudemesh skill, ${READ_ONLY_NOTE}.`,
    `Name: ${documentLine(skill.name, 200)}`,
    `Description: ${documentLine(skill.description, 1000)}`,
    `Tags: ${documentLine(skill.tags.join(', '), 500)}`,
    `Shared by member ${documentLine(skill.author || 'unknown')} on mesh ${documentLine(meshSlug)}${skill.createdAt ? `, ${documentLine(skill.createdAt, 40)}` : ''}`,
    RULE,
    documentText(skill.instructions),
  ].join('\n');
}

export function renderMemory(memory: Memory): string {
  return [
    `Claudemesh memory, ${READ_ONLY_NOTE}.`,
    `Remembered by member ${documentLine(memory.rememberedBy || 'unknown')} at ${documentLine(memory.rememberedAt, 40)}`,
    ...(memory.tags.length ? [`Tags: ${documentLine(memory.tags.join(', '), 500)}`] : []),
    RULE,
    documentText(memory.content),
  ].join('\n') + '\n';
}

/**
 * A shared-state value as JSON, inside an object of ours: the JSON language fetches the schema named by the root's
 * `$schema`, and a peer's value (which may well have one) is never the root.
 */
export function renderState(key: string, entry: { value: unknown; updatedBy?: string; updatedAt?: string } | undefined): string {
  const envelope = { key, updatedBy: entry?.updatedBy ?? '', updatedAt: entry?.updatedAt ?? '', value: entry ? entry.value : null };
  return documentJson(envelope) + '\n';
}

export class Documents implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  /** Every chat URI handed out, by mesh and conversation key, so a new message refreshes only its conversation. */
  private readonly chatUris = new Map<string, Map<string, vscode.Uri>>();
  /** Chats that changed while not visible: re-rendered when they come into view, not before. */
  private readonly stale = new Map<string, vscode.Uri>();
  private readonly due = new Map<string, vscode.Uri>();
  /** The last text handed out per chat document, so new messages are appended to it rather than all re-rendered. */
  private readonly rendered = new Map<string, { conversation: Conversation; count: number; last: ConversationEntry | undefined; text: string }>();
  /** Every state, skill and memory document opened, so it follows what it shows instead of staying a snapshot. */
  private readonly opened = new Map<string, vscode.Uri>();
  private readonly subscriptions: vscode.Disposable[];

  constructor(
    private readonly ctx: Ctx,
    private readonly conversations: Conversations,
    private readonly findMemory: (meshId: string, id: string) => Memory | undefined,
  ) {
    this.subscriptions = [
      conversations.onDidChangeConversation(({ meshId, key }) => {
        if (key !== undefined) {
          for (const uri of this.chatUris.get(chatId(meshId, key))?.values() ?? []) this.refreshWhenVisible(uri);
          return;
        }
        for (const [id, uris] of this.chatUris) {
          if (meshId && !id.startsWith(chatId(meshId, ''))) continue;
          for (const uri of uris.values()) this.refreshWhenVisible(uri);
        }
      }),
      // A state value changed (a peer's write, or the user's own Edit State, which the client reflects).
      ctx.onDidChangeSharedState(({ client, change }) => this.refreshOpened(client.mesh.meshId, (ref) => ref.kind === 'state' && ref.key === change.key)),
      // Skills and memories have no change push: a (re)connect re-reads them, and so do their documents.
      ctx.onDidChangeConnection((client) => client.state.kind === 'connected' && this.refreshOpened(client.mesh.meshId, () => true)),
      vscode.window.onDidChangeVisibleTextEditors((editors) => {
        for (const editor of editors) {
          const id = editor.document.uri.toString();
          const uri = this.stale.get(id);
          if (!uri) continue;
          this.stale.delete(id);
          this.changed.fire(uri);
        }
      }),
    ];
  }

  chatUri(meshId: string, key: string, label: string): vscode.Uri {
    const uri = docUri({ kind: 'chat', meshId, key }, label);
    const id = chatId(meshId, key);
    let uris = this.chatUris.get(id);
    if (!uris) this.chatUris.set(id, (uris = new Map<string, vscode.Uri>()));
    uris.set(uri.toString(), uri);
    return uri;
  }

  /**
   * The conversation's text, extended by the messages appended since it was last rendered; whole again when the
   * conversation was rebuilt (an outbox change or a renamed peer makes a new object, and may change earlier lines).
   */
  private renderChat(id: string, conversation: Conversation, meshSlug: string): string {
    const { entries } = conversation;
    const before = this.rendered.get(id);
    let text: string;
    if (before && before.conversation === conversation && before.count > 0 && entries[before.count - 1] === before.last) {
      text = before.text;
      for (let i = before.count; i < entries.length; i++) text += '\n' + renderEntry(entries[i]);
    } else {
      text = renderConversation(conversation, meshSlug);
    }
    this.rendered.set(id, { conversation, count: entries.length, last: entries[entries.length - 1], text });
    return text;
  }

  /** A burst of messages to a visible chat (and the read marker that follows each) re-renders it once, next tick. */
  private refreshWhenVisible(uri: vscode.Uri): void {
    const id = uri.toString();
    if (!vscode.window.visibleTextEditors.some((editor) => editor.document.uri.toString() === id)) {
      this.stale.set(id, uri);
      return;
    }
    if (this.due.size === 0) {
      setImmediate(() => {
        const due = [...this.due.values()];
        this.due.clear();
        for (const next of due) this.changed.fire(next);
      });
    }
    this.due.set(id, uri);
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const ref = parseDocUri(uri);
    if (!ref) return 'This claudemesh link is not valid.';
    const client = this.ctx.client(ref.meshId);
    if (!client) return 'This mesh is not connected in this window. Check the "claudemesh.meshes" setting.';
    switch (ref.kind) {
      case 'chat': {
        const conversation = this.conversations.get(client, ref.key);
        if (!conversation) return renderConversation({ meshId: ref.meshId, key: ref.key, kind: 'direct', label: ref.key, entries: [], unread: 0, lastAt: 0 }, client.mesh.slug);
        return this.renderChat(uri.toString(), conversation, client.mesh.slug);
      }
      case 'skill': {
        const skill = await client.getSkill(ref.name);
        if (!skill) return `The skill "${documentLine(ref.name)}" no longer exists in mesh ${documentLine(client.mesh.slug)}.`;
        return renderSkill(skill, client.mesh.slug);
      }
      case 'state': {
        return renderState(ref.key, await client.getState(ref.key));
      }
      case 'memory': {
        const memory = this.findMemory(ref.meshId, ref.id);
        return memory ? renderMemory(memory) : 'This memory is no longer in the last recall results. Run "Claudemesh: Recall" again.';
      }
    }
  }

  /** Asks VS Code to re-read a document (opening one does, so it never shows an older copy); it then follows changes. */
  refresh(uri: vscode.Uri): void {
    if (parseDocUri(uri)?.kind !== 'chat') this.opened.set(uri.toString(), uri);
    this.changed.fire(uri);
  }

  /** Re-reads the opened state, skill and memory documents of a mesh that `match`, when they are in view. */
  refreshOpened(meshId: string, match: (ref: DocRef) => boolean): void {
    for (const uri of this.opened.values()) {
      const ref = parseDocUri(uri);
      if (ref && ref.meshId === meshId && match(ref)) this.refreshWhenVisible(uri);
    }
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.changed.dispose();
  }
}

function chatId(meshId: string, key: string): string {
  return `${meshId}\n${key}`;
}
