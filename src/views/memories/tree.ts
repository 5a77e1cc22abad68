/**
 * The Memories view, per mesh: what this window remembered lately (newest first, the last 20) and the results of the
 * last Recall, with Forget inline. The broker has no "list memories" request, so these are all the view can know.
 */
import * as vscode from 'vscode';
import type { MeshClientApi, Memory } from '../../broker/types';
import type { Ctx } from '../shared/ctx';
import { memberLabel, when } from '../shared/text';
import { MeshTree } from '../shared/meshTree';
import { block, inline } from '../shared/untrusted';

export class MemoryNode {
  readonly type = 'memory';
  constructor(
    readonly meshId: string,
    readonly memory: Memory,
  ) {}
}

const RECENT_MAX = 20;

export class MemoriesView extends MeshTree<MemoryNode> {
  private readonly results = new Map<string, { query: string; memories: Memory[] }>();
  private readonly recent = new Map<string, Memory[]>();

  constructor(ctx: Ctx) {
    super(ctx, 'claudemesh.memories', false);
  }

  show(client: MeshClientApi, query: string, memories: Memory[]): void {
    this.results.set(client.mesh.meshId, { query, memories });
    this.view.description = `“${inline(query, 30)}”`;
    this.refresh();
  }

  /** A memory this window just stored: shown at the top until 20 newer ones push it out. */
  remembered(client: MeshClientApi, memory: Memory): void {
    const meshId = client.mesh.meshId;
    this.recent.set(meshId, [memory, ...(this.recent.get(meshId) ?? []).filter((m) => m.id !== memory.id)].slice(0, RECENT_MAX));
    this.refresh();
  }

  find(meshId: string, id: string): Memory | undefined {
    return this.all(meshId).find((m) => m.id === id);
  }

  removeMemory(meshId: string, id: string): void {
    const result = this.results.get(meshId);
    if (result) result.memories = result.memories.filter((m) => m.id !== id);
    this.recent.set(meshId, (this.recent.get(meshId) ?? []).filter((m) => m.id !== id));
    this.refresh();
  }

  /** Recent remembers first, then the recall results not already among them. */
  private all(meshId: string): Memory[] {
    const recent = this.recent.get(meshId) ?? [];
    const ids = new Set(recent.map((m) => m.id));
    return [...recent, ...(this.results.get(meshId)?.memories ?? []).filter((m) => !ids.has(m.id))];
  }

  /** What it lists stays while offline (nothing re-reads it), so the offline note says it is what was last seen. */
  protected override hasLastKnown(client: MeshClientApi): boolean {
    return this.all(client.mesh.meshId).length > 0;
  }

  protected roots(client: MeshClientApi): MemoryNode[] {
    return this.all(client.mesh.meshId).map((m) => new MemoryNode(client.mesh.meshId, m));
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
