/** The commands of the mesh's memory: remember (the selection or typed text), recall, open and forget. */
import * as vscode from 'vscode';
import type { App, MeshHandler } from '../app';
import { docUri, showDocument } from '../shared/documents';
import { MeshNode } from '../shared/meshTree';
import { confirm, say, showInfo } from '../shared/notify';
import { askText, parseTags } from '../shared/picks';
import { memberLabel, plural, when } from '../shared/text';
import { inline } from '../shared/untrusted';
import { MemoryNode } from './tree';

export const remember: MeshHandler = async (app, client) => {
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

export const recall: MeshHandler = async (app, client) => {
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

export async function openMemory(_app: App, arg: unknown): Promise<void> {
  if (!(arg instanceof MemoryNode)) return;
  await showDocument(docUri({ kind: 'memory', meshId: arg.meshId, id: arg.memory.id }, arg.memory.content));
}

export const forget: MeshHandler = async (app, client, arg) => {
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

