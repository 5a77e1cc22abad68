/**
 * What every Claudemesh tree shares: it owns its TreeView, refreshes when meshes come, go or change connection,
 * and groups its items under one node per mesh when more than one mesh is joined.
 */
import * as vscode from 'vscode';
import type { ConnectionState, MeshClientApi } from '../../broker/types';
import type { Ctx } from './ctx';
import { block, inline } from './untrusted';

export class MeshNode {
  readonly type = 'mesh';
  constructor(readonly meshId: string) {}
}

export interface MeshScoped {
  readonly meshId: string;
}

export function describeState(state: ConnectionState, now = Date.now()): string {
  switch (state.kind) {
    case 'connected':
      return 'connected';
    case 'connecting':
      return 'connecting…';
    case 'reconnecting':
      return `reconnecting in ${Math.max(0, Math.ceil((state.retryAt - now) / 1000))} s`;
    case 'failed':
      return 'error';
    case 'disconnected':
      return 'offline';
  }
}

const STATE_ICON: Record<ConnectionState['kind'], string> = {
  connected: 'broadcast',
  connecting: 'sync~spin',
  reconnecting: 'sync~spin',
  failed: 'warning',
  disconnected: 'debug-disconnect',
};

/**
 * While a mesh is on its way back (connecting, reconnecting) a view keeps what it knew, marked as such; after a
 * Disconnect or a failure it shows the welcome that says what to do instead.
 */
function showsLastKnown(client: MeshClientApi, hasLastKnown: (client: MeshClientApi) => boolean): boolean {
  return (client.state.kind === 'connecting' || client.state.kind === 'reconnecting') && hasLastKnown(client);
}

/**
 * The one offline story, the same in every view: a line per mesh that is not connected (connecting, reconnecting and
 * why, failed and why, offline), and a note when the view is showing what it knew before.
 */
export function offlineNote(clients: readonly MeshClientApi[], showsLastKnown: (client: MeshClientApi) => boolean): string | undefined {
  const lines = clients.flatMap((client) => {
    const { state } = client;
    const slug = inline(client.mesh.slug, 60);
    const stale = showsLastKnown(client) ? ' Showing what was last seen.' : '';
    switch (state.kind) {
      case 'connected':
        return [];
      case 'connecting':
        return [`${slug}: connecting…${stale}`];
      case 'reconnecting':
        return [`${slug}: reconnecting (${inline(state.lastError, 120)}).${stale}`];
      case 'failed':
        return [`${slug}: ${inline(state.reason, 300)}${stale}`];
      case 'disconnected':
        return [`${slug}: offline.${stale}`];
    }
  });
  return lines.join('\n') || undefined;
}

export abstract class MeshTree<T extends MeshScoped> implements vscode.TreeDataProvider<T | MeshNode>, vscode.Disposable {
  readonly view: vscode.TreeView<T | MeshNode>;
  private readonly changed = new vscode.EventEmitter<T | MeshNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  protected readonly subscriptions: vscode.Disposable[] = [];

  /** `needsConnection`: items exist only while connected (peers, state, skills); otherwise the welcome shows. */
  constructor(
    protected readonly ctx: Ctx,
    viewId: string,
    private readonly needsConnection: boolean,
  ) {
    this.view = vscode.window.createTreeView(viewId, { treeDataProvider: this, showCollapseAll: false });
    this.subscriptions.push(
      this.view,
      ctx.onDidChangeClients(() => this.refresh()),
      ctx.onDidChangeConnection(() => this.refresh()),
    );
  }

  protected abstract roots(client: MeshClientApi): T[] | Promise<T[]>;
  protected abstract item(element: T): vscode.TreeItem;
  protected children(_element: T): T[] | Promise<T[]> {
    return [];
  }

  /** Every view says the same about a mesh that is not connected, above what it last knew (see offlineNote). */
  refresh(): void {
    this.view.message = [offlineNote(this.ctx.clients, (c) => showsLastKnown(c, (k) => this.hasLastKnown(k))), ...this.problems()].filter(Boolean).join('\n') || undefined;
    this.changed.fire(undefined);
  }

  /** Further lines for the view's message (a failed load). */
  protected problems(): string[] {
    return [];
  }

  /** Whether the view has something from an earlier connection to show while this one is down. */
  protected hasLastKnown(_client: MeshClientApi): boolean {
    return false;
  }

  /** Redraws one element (VS Code asks for its item, and children if expanded), not the whole tree. */
  protected refreshItem(element: T): void {
    this.changed.fire(element);
  }

  protected shows(client: MeshClientApi): boolean {
    return !this.needsConnection || client.state.kind === 'connected' || showsLastKnown(client, (c) => this.hasLastKnown(c));
  }

  async getChildren(element?: T | MeshNode): Promise<(T | MeshNode)[]> {
    const clients = this.ctx.clients;
    if (!element) {
      if (clients.length > 1) return clients.map((c) => new MeshNode(c.mesh.meshId));
      return clients.length === 1 && this.shows(clients[0]) ? this.roots(clients[0]) : [];
    }
    if (element instanceof MeshNode) {
      const client = this.ctx.client(element.meshId);
      return client && this.shows(client) ? this.roots(client) : [];
    }
    return this.children(element);
  }

  getTreeItem(element: T | MeshNode): vscode.TreeItem {
    if (!(element instanceof MeshNode)) return this.item(element);
    const client = this.ctx.client(element.meshId);
    const state = client?.state ?? { kind: 'disconnected' };
    const item = new vscode.TreeItem(
      inline(client?.mesh.slug ?? element.meshId),
      client && this.shows(client) ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None,
    );
    item.id = `mesh:${element.meshId}`;
    item.description = describeState(state);
    item.tooltip = state.kind === 'failed' ? block(state.reason) : state.kind === 'reconnecting' ? block(state.lastError) : undefined;
    item.iconPath = new vscode.ThemeIcon(STATE_ICON[state.kind]);
    item.contextValue = state.kind === 'connected' ? 'mesh.connected' : 'mesh.offline';
    return item;
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.changed.dispose();
  }
}

/**
 * A per-mesh snapshot for views the broker does not keep live (skills) or keeps live only after a first read
 * (shared state): loaded on first show and on every (re)connect, dropped when the mesh goes away.
 */
export class MeshCache<V> {
  private readonly values = new Map<string, V>();
  private readonly loading = new Map<string, Promise<V | undefined>>();
  readonly errors = new Map<string, string>();

  constructor(private readonly load: (client: MeshClientApi) => Promise<V>) {}

  peek(meshId: string): V | undefined {
    return this.values.get(meshId);
  }

  set(meshId: string, value: V): void {
    this.values.set(meshId, value);
  }

  async get(client: MeshClientApi): Promise<V | undefined> {
    return this.values.get(client.mesh.meshId) ?? this.reload(client);
  }

  /** A failed load keeps the previous value and records the reason for the view's message. */
  reload(client: MeshClientApi): Promise<V | undefined> {
    const meshId = client.mesh.meshId;
    const running = this.loading.get(meshId);
    if (running) return running;
    const next = this.load(client).then(
      (value) => {
        this.values.set(meshId, value);
        this.errors.delete(meshId);
        return value;
      },
      (err: Error) => {
        this.errors.set(meshId, inline(`${client.mesh.slug}: ${err.message}`, 300));
        return this.values.get(meshId);
      },
    );
    this.loading.set(meshId, next);
    void next.finally(() => this.loading.delete(meshId));
    return next;
  }

  forgetAllBut(meshIds: readonly string[]): void {
    for (const meshId of [...this.values.keys()]) if (!meshIds.includes(meshId)) this.values.delete(meshId);
  }
}

/** A tree over a MeshCache: re-read on every connect, errors shown as the view's message. */
export abstract class CachedMeshTree<T extends MeshScoped, V> extends MeshTree<T> {
  readonly cache: MeshCache<V>;

  constructor(ctx: Ctx, viewId: string, load: (client: MeshClientApi) => Promise<V>) {
    super(ctx, viewId, true);
    this.cache = new MeshCache(load);
    this.subscriptions.push(
      ctx.onDidChangeConnection((client) => {
        if (client.state.kind === 'connected') void this.reload(client);
      }),
      ctx.onDidChangeClients(() => this.cache.forgetAllBut(ctx.clients.map((c) => c.mesh.meshId))),
    );
  }

  async reload(client: MeshClientApi): Promise<void> {
    await this.cache.reload(client);
    this.refresh();
  }

  protected override problems(): string[] {
    return [...this.cache.errors.values()];
  }

  /** Each view knows what an empty snapshot of its own looks like (an empty state Map, no skills). */
  protected abstract override hasLastKnown(client: MeshClientApi): boolean;
}
