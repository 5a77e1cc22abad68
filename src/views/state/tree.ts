/**
 * The Shared State view: the mesh's keys with a preview of each value, read once per connection and then kept live
 * from `state_change` pushes (the broker sends no reply to our own writes; the client reflects those itself).
 */
import * as vscode from 'vscode';
import type { MeshClientApi, StateEntry } from '../../broker/types';
import type { Ctx } from '../shared/ctx';
import { CachedMeshTree } from '../shared/meshTree';
import { jsonPreview, memberLabel, when } from '../shared/text';
import { block, inline } from '../shared/untrusted';

export class StateNode {
  readonly type = 'state';
  constructor(
    readonly meshId: string,
    readonly entry: StateEntry,
  ) {}
}

export class StateView extends CachedMeshTree<StateNode, Map<string, StateEntry>> {
  constructor(ctx: Ctx) {
    super(ctx, 'claudemesh.state', async (client) => new Map((await client.listState()).map((e) => [e.key, e])));
    this.subscriptions.push(
      ctx.onDidChangeSharedState(({ client, change }) => {
        const entries = this.cache.peek(client.mesh.meshId);
        if (!entries) return;
        entries.set(change.key, { key: change.key, value: change.value, updatedBy: change.updatedBy, updatedAt: new Date().toISOString() });
        this.refresh();
      }),
    );
  }

  protected override hasLastKnown(client: MeshClientApi): boolean {
    return (this.cache.peek(client.mesh.meshId)?.size ?? 0) > 0;
  }

  protected async roots(client: MeshClientApi): Promise<StateNode[]> {
    const entries = await this.cache.get(client);
    return [...(entries?.values() ?? [])].sort((a, b) => a.key.localeCompare(b.key)).map((e) => new StateNode(client.mesh.meshId, e));
  }

  protected item(node: StateNode): vscode.TreeItem {
    const { entry } = node;
    const item = new vscode.TreeItem(inline(entry.key));
    item.id = `state:${node.meshId}:${entry.key}`;
    item.description = inline(jsonPreview(entry.value), 60);
    const by = memberLabel(entry.updatedBy, this.ctx.client(node.meshId)?.peers ?? []);
    const at = when(entry.updatedAt);
    item.tooltip = block(`${inline(entry.key)} = ${inline(jsonPreview(entry.value, 400), 400)}\nUpdated by ${inline(by, 200)}${at ? `, ${at}` : ''}`);
    item.iconPath = new vscode.ThemeIcon('symbol-key');
    item.contextValue = 'stateEntry';
    item.command = { command: 'claudemesh.openStateJson', title: 'Open as JSON', arguments: [node] };
    return item;
  }
}
