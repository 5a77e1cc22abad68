/** The commands of the mesh's skills: share the current file (SKILL.md front matter), open, remove, refresh. */
import * as path from 'path';
import * as vscode from 'vscode';
import type { MeshClientApi } from '../../broker/types';
import type { App, MeshHandler } from '../app';
import { docUri, showDocument } from '../shared/documents';
import { confirm, say, showInfo } from '../shared/notify';
import { askText, parseTags } from '../shared/picks';
import { inline } from '../shared/untrusted';
import { SkillNode } from './tree';

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

export const shareSkill: MeshHandler = async (app, client) => {
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

export const openSkill: MeshHandler = async (app, client, arg) => {
  const node = await skillNodeOrPick(app, client, arg, 'Open Skill');
  if (!node) return;
  const uri = docUri({ kind: 'skill', meshId: node.meshId, name: node.skill.name }, node.skill.name);
  app.documents.refresh(uri);
  await showDocument(uri);
};

export const removeSkill: MeshHandler = async (app, client, arg) => {
  const node = await skillNodeOrPick(app, client, arg, 'Remove Skill');
  if (!node) return;
  if (!(await confirm(say`Remove the skill "${node.skill.name}" from ${client.mesh.slug} for everyone?`, 'Remove'))) return;
  const removed = await client.removeSkill(node.skill.name);
  await app.skills.reload(client);
  if (!removed) void showInfo(say`Claudemesh: "${node.skill.name}" was already gone.`);
};

export const refreshSkills: MeshHandler = async (app, client) => {
  await app.skills.reload(client);
  app.documents.refreshOpened(client.mesh.meshId, (ref) => ref.kind === 'skill');
};
