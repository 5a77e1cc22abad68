/**
 * The Skills view. The broker pushes nothing when skills change, so the list is read on connect, after our own
 * share/remove, and on Refresh.
 */
import * as vscode from 'vscode';
import type { MeshClientApi, SkillSummary } from '../broker/types';
import type { Ctx } from './ctx';
import { CachedMeshTree } from './meshTree';

export class SkillNode {
  readonly type = 'skill';
  constructor(
    readonly meshId: string,
    readonly skill: SkillSummary,
  ) {}
}

export class SkillsView extends CachedMeshTree<SkillNode, SkillSummary[]> {
  constructor(ctx: Ctx) {
    super(ctx, 'claudemesh.skills', (client) => client.listSkills());
  }

  protected async roots(client: MeshClientApi): Promise<SkillNode[]> {
    return ((await this.cache.get(client)) ?? []).map((skill) => new SkillNode(client.mesh.meshId, skill));
  }

  protected item(node: SkillNode): vscode.TreeItem {
    const { skill } = node;
    const item = new vscode.TreeItem(skill.name);
    item.id = `skill:${node.meshId}:${skill.name}`;
    item.description = skill.description;
    const tags = skill.tags.length ? `\nTags: ${skill.tags.join(', ')}` : '';
    item.tooltip = `${skill.name}\n${skill.description}${tags}\nBy ${skill.author || 'unknown'}, ${skill.createdAt}`;
    item.iconPath = new vscode.ThemeIcon('book');
    item.contextValue = 'skill';
    item.command = { command: 'claudemesh.openSkill', title: 'Open Skill', arguments: [node] };
    return item;
  }
}
