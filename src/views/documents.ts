/**
 * Read-only virtual documents under the `claudemesh:` scheme: conversations, skills, shared-state values and memories.
 * A text document shows peer text as text, never as markup, which is why conversations are documents, not a webview.
 */
import * as vscode from 'vscode';
import type { Memory, OutboxStatus } from '../broker/types';
import type { Conversation, Conversations } from './conversations';
import type { Ctx } from './ctx';

export const SCHEME = 'claudemesh';

export type DocRef =
  | { kind: 'chat'; meshId: string; key: string }
  | { kind: 'skill'; meshId: string; name: string }
  | { kind: 'state'; meshId: string; key: string }
  | { kind: 'memory'; meshId: string; id: string };

const EXTENSION: Record<DocRef['kind'], string> = { chat: '', skill: '.md', state: '.json', memory: '.md' };

/**
 * `title` names the editor tab; it is untrusted text, so path-significant characters are replaced, and so are dots
 * in a conversation's title, whose language must not follow a peer's name ("bob.md"). The `/<kind>/` folder is what
 * the manifest's `resourcePath` when-clauses match.
 */
export function docUri(ref: DocRef, title: string): vscode.Uri {
  const unsafe = ref.kind === 'chat' ? /[\u0000-\u001f/\\?#%*:|"<>.]/g : /[\u0000-\u001f/\\?#%*:|"<>]/g;
  const safeTitle = title.replace(unsafe, '_').slice(0, 60) || ref.kind;
  const { kind, meshId, ...rest } = ref;
  const query = new URLSearchParams({ kind, mesh: meshId, id: Object.values(rest)[0] as string }).toString();
  return vscode.Uri.from({ scheme: SCHEME, path: `/${kind}/${safeTitle}${EXTENSION[kind]}`, query });
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
      ? `Direct messages with ${conversation.label}`
      : conversation.kind === 'group'
        ? `Messages to ${conversation.key}`
        : 'Broadcasts and group messages (the broker does not say which group a received message was sent to)';
  const lines = [`${heading} — mesh ${meshSlug}`, 'Reply with the "Claudemesh: Reply" button in this editor\'s title bar.', ''];
  for (const entry of conversation.entries) {
    let head = `[${timestamp(entry.at)}] ${entry.from}`;
    if (entry.row) {
      head += ` → ${entry.row.targetLabel}`;
      const why = entry.row.status === 'failed' ? entry.row.lastError : entry.row.status === 'not_delivered' ? entry.row.notDeliveredReason : undefined;
      head += ` (${STATUS_TEXT[entry.row.status]}${why ? `: ${why}` : ''})`;
    }
    if (entry.message && entry.message.priority !== 'next') head += ` [${entry.message.priority}]`;
    lines.push(head + ':');
    const body = entry.text ?? '[this message could not be decrypted]';
    for (const line of body.split(/\r?\n/)) lines.push('    ' + line);
    lines.push('');
  }
  if (conversation.entries.length === 0) lines.push('No messages yet.');
  return lines.join('\n');
}

export function renderMemory(memory: Memory): string {
  const tags = memory.tags.length ? `\nTags: ${memory.tags.join(', ')}` : '';
  return `${memory.content}\n\n---\nRemembered by ${memory.rememberedBy} at ${memory.rememberedAt}${tags}\n`;
}

export class Documents implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  /** Every chat URI handed out, so a new message can refresh the open ones. */
  private readonly chatUris = new Map<string, vscode.Uri>();
  private readonly subscription: vscode.Disposable;

  constructor(
    private readonly ctx: Ctx,
    private readonly conversations: Conversations,
    private readonly findMemory: (meshId: string, id: string) => Memory | undefined,
  ) {
    this.subscription = conversations.onDidChange((meshId) => {
      for (const uri of this.chatUris.values()) {
        if (!meshId || parseDocUri(uri)?.meshId === meshId) this.changed.fire(uri);
      }
    });
  }

  chatUri(meshId: string, key: string, label: string): vscode.Uri {
    const uri = docUri({ kind: 'chat', meshId, key }, label);
    this.chatUris.set(uri.toString(), uri);
    return uri;
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const ref = parseDocUri(uri);
    if (!ref) return `This claudemesh link is not valid: ${uri.toString()}`;
    const client = this.ctx.client(ref.meshId);
    if (!client) return 'This mesh is not connected in this window. Check the "claudemesh.meshes" setting.';
    switch (ref.kind) {
      case 'chat': {
        const conversation = this.conversations.get(client, ref.key);
        return conversation
          ? renderConversation(conversation, client.mesh.slug)
          : renderConversation({ meshId: ref.meshId, key: ref.key, kind: 'direct', label: ref.key, entries: [], unread: 0, lastAt: 0 }, client.mesh.slug);
      }
      case 'skill': {
        const skill = await client.getSkill(ref.name);
        if (!skill) return `The skill "${ref.name}" no longer exists in mesh ${client.mesh.slug}.`;
        const front = [`name: ${skill.name}`, `description: ${skill.description}`, `tags: [${skill.tags.join(', ')}]`, `author: ${skill.author}`];
        return `---\n${front.join('\n')}\n---\n\n${skill.instructions}`;
      }
      case 'state': {
        const entry = await client.getState(ref.key);
        return entry ? JSON.stringify(entry.value, null, 2) + '\n' : 'null\n';
      }
      case 'memory': {
        const memory = this.findMemory(ref.meshId, ref.id);
        return memory ? renderMemory(memory) : 'This memory is no longer in the last recall results. Run "Claudemesh: Recall" again.';
      }
    }
  }

  /** Asks VS Code to re-read a document, e.g. after a state value changed. */
  refresh(uri: vscode.Uri): void {
    this.changed.fire(uri);
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}
