/**
 * The extension's one owner of long-lived things: the log channel, the identities, one MeshClient per connected mesh,
 * and the context keys the manifest's `when` clauses read. Views and commands subscribe to Ctx, never to a client
 * directly, so a mesh can come and go (settings change, join) without anyone re-wiring.
 */
import * as crypto from 'crypto';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import { MeshClient, MeshClientOptions } from '../../broker/client';
import { LogStore } from '../../broker/history';
import { pruneLeftMeshes } from '../../broker/store';
import type { InboundMessage, MeshClientApi, PresenceEvent, StateChange } from '../../broker/types';
import { ActivityLog } from '../activityLog';
import { Identity, isSelected, loadIdentities, LoadedIdentities, SessionKeys } from '../identities/identities';
import { say, showInfo, showWarning } from './notify';
import { errorMessage } from './text';
import { inline } from './untrusted';

/** workspaceState: the meshId of the default mesh. */
const DEFAULT_MESH_KEY = 'claudemesh.defaultMesh';

export type ClientFactory = (options: MeshClientOptions) => MeshClientApi;

export type NotificationSetting = 'all' | 'direct' | 'off';
export type FolderSharing = 'fullPath' | 'folderName' | 'nothing';

export interface Settings {
  displayName: string;
  meshes: string[];
  configPath: string;
  autoConnect: boolean;
  notifications: NotificationSetting;
  presenceNotifications: boolean;
  shareWorkingFolder: FolderSharing;
  shareHostName: boolean;
}

export function readSettings(): Settings {
  const config = vscode.workspace.getConfiguration('claudemesh');
  const notifications = config.get<string>('notifications', 'all');
  const folder = config.get<string>('share.workingFolder', 'folderName');
  return {
    displayName: config.get<string>('displayName', '').trim(),
    meshes: config.get<string[]>('meshes', []).filter((m) => typeof m === 'string' && m.trim() !== ''),
    configPath: config.get<string>('configPath', '').trim(),
    autoConnect: config.get<boolean>('autoConnect', true),
    notifications: notifications === 'direct' || notifications === 'off' ? notifications : 'all',
    presenceNotifications: config.get<boolean>('presenceNotifications', false),
    shareWorkingFolder: folder === 'fullPath' || folder === 'nothing' ? folder : 'folderName',
    shareHostName: config.get<boolean>('share.hostName', true),
  };
}

/** What the hello tells every member about this machine, as the share.* settings allow. */
export function presenceFields(settings: Settings, folder: string | undefined, hostname: string): { cwd: string; hostname: string } {
  const cwd = !folder || settings.shareWorkingFolder === 'nothing' ? '' : settings.shareWorkingFolder === 'fullPath' ? folder : path.basename(folder);
  return { cwd, hostname: settings.shareHostName ? hostname : '' };
}

interface MeshEntry {
  identity: Identity;
  client: MeshClientApi;
  displayName: string;
  /** The presence fields its hello sent; a change of the share.* settings reconnects with new ones. */
  presence: string;
  subscriptions: { dispose(): void }[];
}

export const OPEN_CONFIG_ACTION = 'Open Claudemesh Config';

export class Ctx implements vscode.Disposable {
  readonly log: vscode.LogOutputChannel;
  private readonly sessionKeys: SessionKeys;
  private readonly entries = new Map<string, MeshEntry>();
  private loadedIdentities: LoadedIdentities = { identities: [], configPath: '', configExists: false, problems: [] };
  private reloading: Promise<void> = Promise.resolve();
  private lastProblems = '';
  private readonly contextValues = new Map<string, unknown>();
  private disposed = false;

  private readonly clientsChanged = new vscode.EventEmitter<void>();
  private readonly connectionChanged = new vscode.EventEmitter<MeshClientApi>();
  private readonly peersChanged = new vscode.EventEmitter<MeshClientApi>();
  private readonly outboxChanged = new vscode.EventEmitter<MeshClientApi>();
  private readonly messageReceived = new vscode.EventEmitter<{ client: MeshClientApi; message: InboundMessage }>();
  private readonly sharedStateChanged = new vscode.EventEmitter<{ client: MeshClientApi; change: StateChange }>();
  private readonly presence = new vscode.EventEmitter<{ client: MeshClientApi; event: PresenceEvent }>();
  /** Identities were (re)loaded: meshes may have been added or removed. */
  readonly onDidChangeClients = this.clientsChanged.event;
  readonly onDidChangeConnection = this.connectionChanged.event;
  readonly onDidChangePeers = this.peersChanged.event;
  readonly onDidChangeOutbox = this.outboxChanged.event;
  readonly onDidReceiveMessage = this.messageReceived.event;
  readonly onDidChangeSharedState = this.sharedStateChanged.event;
  readonly onPresence = this.presence.event;

  constructor(
    readonly context: vscode.ExtensionContext,
    private readonly createClient: ClientFactory = (options) => new MeshClient(options),
  ) {
    this.log = vscode.window.createOutputChannel('Claudemesh', { log: true });
    this.sessionKeys = new SessionKeys(context, this.log);
  }

  get clients(): MeshClientApi[] {
    return [...this.entries.values()].map((e) => e.client);
  }

  client(meshId: string): MeshClientApi | undefined {
    return this.entries.get(meshId)?.client;
  }

  /** Every identity found, selected or not (Choose Meshes lists them all). */
  get identities(): readonly Identity[] {
    return this.loadedIdentities.identities;
  }

  get configPath(): string {
    return this.loadedIdentities.configPath;
  }

  /** The CLI config's top-level displayName, if it has one. */
  get configDisplayName(): string | undefined {
    return this.loadedIdentities.displayName;
  }

  get configExists(): boolean {
    return this.loadedIdentities.configExists;
  }

  /** The mesh commands use when nothing says which: the last one picked in this workspace (see pickClient). */
  get defaultMesh(): MeshClientApi | undefined {
    const meshId = this.context.workspaceState.get<string>(DEFAULT_MESH_KEY);
    return meshId ? this.client(meshId) : undefined;
  }

  async setDefaultMesh(client: MeshClientApi): Promise<void> {
    await this.context.workspaceState.update(DEFAULT_MESH_KEY, client.mesh.meshId);
    this.clientsChanged.fire();
  }

  /** The display name this window announces in a mesh, before the broker confirms one. */
  displayName(meshId: string): string {
    return this.entries.get(meshId)?.displayName ?? '';
  }

  /** Re-reads settings and identities, then starts, keeps or stops clients to match. Calls are serialised. */
  reload(): Promise<void> {
    this.reloading = this.reloading.then(() => this.doReload()).catch((err) => this.log.error(`Reloading identities failed: ${errorMessage(err)}`));
    return this.reloading;
  }

  private async doReload(): Promise<void> {
    if (this.disposed) return;
    const settings = readSettings();
    this.loadedIdentities = await loadIdentities(this.context, settings.configPath || undefined);
    const displayName = settings.displayName || this.loadedIdentities.displayName || defaultDisplayName();
    const presence = presenceFields(settings, vscode.workspace.workspaceFolders?.[0]?.uri.fsPath, os.hostname());
    const wanted = new Map(this.loadedIdentities.identities.filter((i) => isSelected(i.mesh, settings.meshes)).map((i) => [i.mesh.meshId, i]));
    if (this.loadedIdentities.problems.length === 0) {
      // Only from a clean load: a mesh missing because its config entry is unreadable must keep its queued messages.
      const joined = new Set(this.loadedIdentities.identities.map((i) => i.mesh.meshId));
      const pruned = await pruneLeftMeshes(this.context.workspaceState, joined);
      if (pruned) this.log.info(`Removed ${pruned} stored record(s) of meshes that are no longer joined.`);
    }

    for (const [meshId, entry] of this.entries) {
      const identity = wanted.get(meshId);
      const same = identity && identity.mesh.pubkey === entry.identity.mesh.pubkey && identity.mesh.brokerUrl === entry.identity.mesh.brokerUrl;
      if (same && entry.displayName === displayName && entry.presence === JSON.stringify(presence)) continue;
      await this.remove(meshId, !same);
    }
    for (const [meshId, identity] of wanted) {
      if (this.entries.has(meshId) || this.disposed) continue;
      await this.add(identity, displayName, presence, settings.autoConnect);
    }
    // Fired after every load, not only on change: the views and status bar also show which identities exist.
    this.clientsChanged.fire();
    this.updateContextKeys();
    this.reportProblems();
  }

  private async add(identity: Identity, displayName: string, presence: { cwd: string; hostname: string }, autoConnect: boolean): Promise<void> {
    const { mesh } = identity;
    const session = await this.sessionKeys.acquire(mesh.meshId);
    const client = this.createClient({
      mesh,
      store: this.context.workspaceState,
      history: this.historyStore(mesh.meshId, session.slot),
      sessionKey: session.sessionKey,
      sessionId: session.sessionId,
      displayName,
      ...presence,
      log: this.log,
    });
    const story = new ActivityLog(client, this.log);
    const subscriptions = [
      client.onDidChangeState((state) => {
        this.log.info(`${mesh.slug}: ${state.kind}${'reason' in state ? ` (${state.reason})` : 'lastError' in state ? ` (${state.lastError})` : ''}`);
        this.updateContextKeys();
        this.connectionChanged.fire(client);
      }),
      client.onDidChangePeers(() => this.peersChanged.fire(client)),
      client.onDidChangeOutbox((rows) => {
        story.outbox(rows);
        this.updateContextKeys();
        this.outboxChanged.fire(client);
      }),
      client.onDidReceiveMessage((message) => this.messageReceived.fire({ client, message })),
      client.onDidChangeSharedState((change) => this.sharedStateChanged.fire({ client, change })),
      client.onPresence((event) => {
        story.presence(event);
        this.presence.fire({ client, event });
      }),
    ];
    this.entries.set(mesh.meshId, { identity, client, displayName, presence: JSON.stringify(presence), subscriptions });
    this.log.info(`${mesh.slug}: identity from ${identity.source === 'cli' ? 'the claudemesh config' : 'VS Code'}, session slot ${session.slot}`);
    if (autoConnect) client.connect();
  }

  /**
   * The mesh's history log, under this workspace's storage (where workspaceState's outbox also lives): the history is
   * of this workspace's session, whose key DMs are sealed for, as it was when it lived in workspaceState. One file per
   * session slot, so the slot's lease makes each file single-writer even with two windows on one workspace. The mesh
   * id comes from an invite or config, so it is hashed rather than used as a name. A temporary session (every slot
   * taken) keeps history where it always was, in workspaceState.
   */
  private historyStore(meshId: string, slot: number): LogStore | undefined {
    if (slot < 0) return undefined;
    const base = this.context.storageUri?.fsPath ?? path.join(this.context.globalStorageUri.fsPath, 'no-workspace');
    const name = crypto.createHash('sha256').update(meshId).digest('hex').slice(0, 16);
    return new LogStore(path.join(base, 'history', `${name}.${slot}.jsonl`), { log: this.log });
  }

  private async remove(meshId: string, releaseSession: boolean): Promise<void> {
    const entry = this.entries.get(meshId);
    if (!entry) return;
    this.entries.delete(meshId);
    for (const s of entry.subscriptions) s.dispose();
    await entry.client.dispose();
    if (releaseSession) await this.sessionKeys.release(meshId);
  }

  /** One message for a broken config, not one per problem; repeated only when the problems change. */
  private reportProblems(): void {
    const problems = this.loadedIdentities.problems;
    for (const problem of problems) this.log.warn(problem);
    const key = problems.join('\n');
    if (key === this.lastProblems) return;
    this.lastProblems = key;
    if (problems.length === 0) return;
    const more = problems.length > 1 ? ` (${problems.length - 1} more in the log)` : '';
    void showWarning(say`Claudemesh: ${problems[0]}${more}`, OPEN_CONFIG_ACTION, 'Show Logs').then((choice) => {
      if (choice === OPEN_CONFIG_ACTION) void vscode.commands.executeCommand('claudemesh.openConfig');
      if (choice === 'Show Logs') this.log.show();
    });
  }

  updateContextKeys(): void {
    const clients = this.clients;
    this.setContext('claudemesh.hasIdentity', this.loadedIdentities.identities.length > 0);
    this.setContext('claudemesh.hasMeshes', clients.length > 0);
    this.setContext('claudemesh.connected', clients.some((c) => c.state.kind === 'connected'));
    this.setContext('claudemesh.connecting', clients.some((c) => c.state.kind === 'connecting' || c.state.kind === 'reconnecting'));
    this.setContext('claudemesh.hasFailedMessages', clients.some((c) => c.outbox.some((row) => row.status === 'failed')));
  }

  private setContext(key: string, value: unknown): void {
    if (this.contextValues.get(key) === value) return;
    this.contextValues.set(key, value);
    void vscode.commands.executeCommand('setContext', key, value);
  }

  /**
   * The client a command acts on: the one named, the only one, or the user's pick. Undefined when there is none
   * (after telling the user how to get one) or the pick was dismissed.
   */
  async pickClient(meshId?: string, title = 'Which mesh?'): Promise<MeshClientApi | undefined> {
    if (meshId) {
      const named = this.client(meshId);
      if (named) return named;
    }
    const clients = this.clients;
    if (clients.length === 1) return clients[0];
    const remembered = this.defaultMesh;
    if (remembered) return remembered;
    if (clients.length === 0) {
      const join = 'Join Mesh from Invite Link';
      const choice = await showInfo(
        this.loadedIdentities.identities.length === 0
          ? say`Claudemesh: no mesh joined yet. Join one from an invite link, or with ${'`claudemesh join`'} in a terminal.`
          : say`Claudemesh: none of your meshes is selected in the "claudemesh.meshes" setting.`,
        ...(this.loadedIdentities.identities.length === 0 ? [join] : ['Choose Meshes']),
      );
      if (choice === join) await vscode.commands.executeCommand('claudemesh.joinMesh');
      if (choice === 'Choose Meshes') await vscode.commands.executeCommand('claudemesh.chooseMeshes');
      return undefined;
    }
    const picked = await this.pickMesh(title, 'Pick a mesh; it stays the default (change it from the status bar)');
    if (picked) await this.setDefaultMesh(picked);
    return picked;
  }

  /** A quick pick of the joined meshes; the current default is marked. */
  async pickMesh(title: string, placeHolder: string): Promise<MeshClientApi | undefined> {
    const current = this.defaultMesh;
    const picked = await vscode.window.showQuickPick(
      this.clients.map((client) => ({ label: inline(client.mesh.slug), description: `${client.state.kind}${client === current ? ' · default' : ''}`, client })),
      { title, placeHolder },
    );
    return picked?.client;
  }

  dispose(): Promise<void> {
    this.disposed = true;
    const closing = [...this.entries.keys()].map((meshId) => this.remove(meshId, true));
    closing.push(this.sessionKeys.dispose());
    for (const emitter of [this.clientsChanged, this.connectionChanged, this.peersChanged, this.outboxChanged, this.messageReceived, this.sharedStateChanged, this.presence]) {
      emitter.dispose();
    }
    // Never rejects: deactivate() and the subscription that calls this have nobody to tell but the log.
    return Promise.allSettled(closing).then((results) => {
      for (const r of results) if (r.status === 'rejected') this.log.error(`Closing a mesh failed: ${errorMessage(r.reason)}`);
      this.log.dispose();
    });
  }
}

function defaultDisplayName(): string {
  try {
    return os.userInfo().username || 'VS Code';
  } catch {
    return 'VS Code';
  }
}
