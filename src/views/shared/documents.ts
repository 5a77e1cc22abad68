/**
 * Read-only virtual documents under the `claudemesh:` scheme: skills, shared-state values and memories (each rendered by
 * its capability's `document.ts`; this file is the scheme, the URIs and the content provider that keeps them current).
 *
 * Everything in them is peer-authored, so they are plain text (a shared-state value: JSON), never Markdown: VS Code's
 * Markdown support makes `[x](command:…)` links in a `.md` document Ctrl+clickable, and its preview renders HTML and
 * fetches images. A plain-text document renders nothing; what it would still link (http, https and file URLs) is
 * defanged by untrusted.ts. The language is ours, not the peer's: the file name is a sanitised title plus a fixed
 * suffix (a peer's "Makefile" or "notes.md" picks no language), the first line is always our own (VS Code also
 * guesses a language from the first line), and showDocument sets the language once more after opening.
 */
import * as vscode from 'vscode';
import type { MeshClientApi } from '../../broker/types';
import type { Ctx } from './ctx';
import { inline } from './untrusted';

export const SCHEME = 'claudemesh';

export type DocRef =
  | { kind: 'skill'; meshId: string; name: string }
  | { kind: 'state'; meshId: string; key: string }
  | { kind: 'memory'; meshId: string; id: string };

/** The fixed end of each document's file name: it decides the language (plaintext, or json for state values). */
const SUFFIX: Record<DocRef['kind'], string> = { skill: ' (skill)', state: ' (shared state).json', memory: ' (memory)' };
const LANGUAGE: Record<DocRef['kind'], string> = { skill: 'plaintext', state: 'json', memory: 'plaintext' };

/** The first line of every plain-text document: ours, so no language is guessed from a peer's first line. */
export const READ_ONLY_NOTE = 'shown as plain text; links in it are disabled';

/**
 * `title` names the editor tab; it is untrusted, so only letters, digits, spaces, dashes and underscores are kept
 * (no dot: no extension, no path), and the kind's fixed suffix ends the name, under a `/<kind>/` folder.
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

/** The line between a plain-text document's header (ours) and the peer's text. */
export const RULE = '─'.repeat(60);

/** Each kind's text, from the client of the document's mesh; a capability's `document.ts` supplies its own. */
export type Renderers = { [K in DocRef['kind']]: (client: MeshClientApi, ref: Extract<DocRef, { kind: K }>) => string | Promise<string> };

export class Documents implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  /** Documents that changed while not visible: re-rendered when they come into view, not before. */
  private readonly stale = new Map<string, vscode.Uri>();
  private readonly due = new Map<string, vscode.Uri>();
  /** Every state, skill and memory document opened, so it follows what it shows instead of staying a snapshot. */
  private readonly opened = new Map<string, vscode.Uri>();
  private readonly subscriptions: vscode.Disposable[];

  constructor(
    private readonly ctx: Ctx,
    private readonly renderers: Renderers,
  ) {
    this.subscriptions = [
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

  /** A burst of changes to a visible document re-renders it once, next tick. */
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
      case 'skill':
        return this.renderers.skill(client, ref);
      case 'state':
        return this.renderers.state(client, ref);
      case 'memory':
        return this.renderers.memory(client, ref);
    }
  }

  /** Asks VS Code to re-read a document (opening one does, so it never shows an older copy); it then follows changes. */
  refresh(uri: vscode.Uri): void {
    this.opened.set(uri.toString(), uri);
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
