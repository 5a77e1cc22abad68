/**
 * The Skills view. The broker pushes nothing when skills change, so the list is read on connect, after our own
 * share/remove, and on Refresh.
 */
import * as vscode from 'vscode';
import type { MeshClientApi, SkillSummary } from '../../broker/types';
import type { Ctx } from '../shared/ctx';
import { memberLabel, when } from '../shared/text';
import { CachedMeshTree } from '../shared/meshTree';
import { block, inline } from '../shared/untrusted';

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

  protected override hasLastKnown(client: MeshClientApi): boolean {
    return (this.cache.peek(client.mesh.meshId)?.length ?? 0) > 0;
  }

  protected async roots(client: MeshClientApi): Promise<SkillNode[]> {
    return ((await this.cache.get(client)) ?? []).map((skill) => new SkillNode(client.mesh.meshId, skill));
  }

  protected item(node: SkillNode): vscode.TreeItem {
    const { skill } = node;
    const item = new vscode.TreeItem(inline(skill.name));
    item.id = `skill:${node.meshId}:${skill.name}`;
    item.description = inline(skill.description);
    const tags = skill.tags.length ? `\nTags: ${inline(skill.tags.join(', '), 300)}` : '';
    const by = memberLabel(skill.author, this.ctx.client(node.meshId)?.peers ?? []);
    const at = when(skill.createdAt);
    item.tooltip = block(`${inline(skill.name)}\n${inline(skill.description, 600)}${tags}\nShared by ${inline(by, 200)}${at ? `, ${at}` : ''}`);
    item.iconPath = new vscode.ThemeIcon('book');
    item.contextValue = 'skill';
    item.command = { command: 'claudemesh.openSkill', title: 'Open Skill', arguments: [node] };
    return item;
  }
}
