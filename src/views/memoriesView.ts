/** The Memories view: the results of the last Recall, per mesh, with Forget inline. */
import * as vscode from 'vscode';
import type { MeshClientApi, Memory } from '../broker/types';
import type { Ctx } from './ctx';
import { memberLabel, when } from './text';
import { MeshTree } from './meshTree';
import { block, inline } from './untrusted';

export class MemoryNode {
  readonly type = 'memory';
  constructor(
    readonly meshId: string,
    readonly memory: Memory,
  ) {}
}

export class MemoriesView extends MeshTree<MemoryNode> {
  private readonly results = new Map<string, { query: string; memories: Memory[] }>();

  constructor(ctx: Ctx) {
    super(ctx, 'claudemesh.memories', false);
  }

  show(client: MeshClientApi, query: string, memories: Memory[]): void {
    this.results.set(client.mesh.meshId, { query, memories });
    this.view.description = `“${inline(query, 30)}”`;
    this.refresh();
  }

  find(meshId: string, id: string): Memory | undefined {
    return this.results.get(meshId)?.memories.find((m) => m.id === id);
  }

  removeMemory(meshId: string, id: string): void {
    const result = this.results.get(meshId);
    if (!result) return;
    result.memories = result.memories.filter((m) => m.id !== id);
    this.refresh();
  }

  protected roots(client: MeshClientApi): MemoryNode[] {
    return (this.results.get(client.mesh.meshId)?.memories ?? []).map((m) => new MemoryNode(client.mesh.meshId, m));
  }

  protected item(node: MemoryNode): vscode.TreeItem {
    const { memory } = node;
    const item = new vscode.TreeItem(inline(memory.content, 70));
    item.id = `memory:${node.meshId}:${memory.id}`;
    item.description = inline(memory.tags.join(', '));
    const by = memberLabel(memory.rememberedBy, this.ctx.client(node.meshId)?.peers ?? []);
    const at = when(memory.rememberedAt);
    item.tooltip = block(`${block(memory.content, 1500)}\n\nRemembered by ${inline(by, 200)}${at ? `, ${at}` : ''}`);
    item.iconPath = new vscode.ThemeIcon('lightbulb');
    item.contextValue = 'memory';
    item.command = { command: 'claudemesh.openMemory', title: 'Open Memory', arguments: [node] };
    return item;
  }
}
