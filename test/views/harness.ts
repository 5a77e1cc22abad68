/**
 * A scripted MeshClientApi for view tests that need states a live broker gives only by accident or after long
 * waits (reconnect countdowns, terminal failures, failed rows). Integration tests use the real MeshClient instead.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateKeypair } from '../../src/broker/crypto';
import { Emitter } from '../../src/broker/events';
import { Running, start, StartOptions } from '../../src/extension';
import * as vscode from '../support/fakeVscode';
import type { MeshClientOptions } from '../../src/broker/client';
import type {
  ConnectionState,
  InboundMessage,
  JoinedMesh,
  Memory,
  MeshClientApi,
  MeshInfo,
  MessageStatus,
  OutboxRow,
  Peer,
  PeerProfile,
  PeerStatus,
  PresenceEvent,
  Priority,
  Skill,
  SkillSummary,
  StateChange,
  StateEntry,
} from '../../src/broker/types';

export function fakePeer(fields: Partial<Peer> & { pubkey: string; displayName: string }): Peer {
  return {
    memberPubkey: fields.pubkey,
    status: 'idle',
    summary: null,
    groups: [],
    sessionId: `s-${fields.pubkey.slice(0, 6)}`,
    connectedAt: '2024-01-01T00:00:00.000Z',
    cwd: '/work',
    peerRole: 'session',
    ...fields,
  };
}

export function hexKey(fill: string): string {
  return fill.repeat(64).slice(0, 64);
}

export class FakeMeshClient implements MeshClientApi {
  readonly mesh: JoinedMesh;
  readonly sessionPubkey: string;
  state: ConnectionState = { kind: 'disconnected' };
  peers: Peer[] = [];
  peersListed = false;
  history: InboundMessage[] = [];
  outbox: OutboxRow[] = [];
  readonly calls: { method: string; args: unknown[] }[] = [];
  readonly stateEntries = new Map<string, StateEntry>();
  /** What listSkills/getSkill and recall answer. */
  skills: Skill[] = [];
  memories: Memory[] = [];
  disposed = false;

  private readonly stateEmitter = new Emitter<ConnectionState>();
  private readonly peersEmitter = new Emitter<readonly Peer[]>();
  private readonly messageEmitter = new Emitter<InboundMessage>();
  private readonly outboxEmitter = new Emitter<readonly OutboxRow[]>();
  private readonly sharedStateEmitter = new Emitter<StateChange>();
  private readonly presenceEmitter = new Emitter<PresenceEvent>();
  readonly onDidChangeState = this.stateEmitter.event;
  readonly onDidChangePeers = this.peersEmitter.event;
  readonly onDidReceiveMessage = this.messageEmitter.event;
  readonly onDidChangeOutbox = this.outboxEmitter.event;
  readonly onDidChangeSharedState = this.sharedStateEmitter.event;
  readonly onPresence = this.presenceEmitter.event;

  constructor(readonly options: MeshClientOptions) {
    this.mesh = options.mesh;
    this.sessionPubkey = options.sessionKey.pubkey;
  }

  get ownRow(): Peer | undefined {
    return this.peers.find((p) => p.pubkey === this.sessionPubkey);
  }

  get otherPeerCount(): number {
    return this.peers.filter((p) => p.peerRole !== 'control-plane' && p.pubkey !== this.sessionPubkey).length;
  }

  // ---- scripting ----
  setConnection(state: ConnectionState): void {
    this.state = state;
    this.stateEmitter.fire(state);
  }
  setPeers(peers: Peer[]): void {
    this.peers = peers;
    this.peersListed = true;
    this.peersEmitter.fire(peers);
  }
  receive(message: Partial<InboundMessage> & { senderPubkey: string; text: string | null }): InboundMessage {
    const full: InboundMessage = {
      id: `m${this.history.length + 1}`,
      brokerMessageId: `b${this.history.length + 1}`,
      meshId: this.mesh.meshId,
      kind: 'direct',
      priority: 'next',
      createdAt: new Date().toISOString(),
      receivedAt: Date.now(),
      ...message,
    };
    this.history.push(full);
    this.messageEmitter.fire(full);
    return full;
  }
  setOutbox(rows: OutboxRow[]): void {
    this.outbox = rows;
    this.outboxEmitter.fire(rows);
  }
  presence(event: PresenceEvent): void {
    this.presenceEmitter.fire(event);
  }

  private record(method: string, ...args: unknown[]): void {
    this.calls.push({ method, args });
  }

  // ---- MeshClientApi ----
  connect(): void {
    this.record('connect');
    this.setConnection({ kind: 'connecting', attempt: 1 });
  }
  async disconnect(): Promise<void> {
    this.record('disconnect');
    this.setConnection({ kind: 'disconnected' });
  }
  reconnect(): void {
    this.record('reconnect');
    this.setConnection({ kind: 'connecting', attempt: 1 });
  }
  async dispose(): Promise<void> {
    this.disposed = true;
  }
  async send(target: string, text: string, options: { priority?: Priority; label?: string } = {}): Promise<OutboxRow> {
    this.record('send', target, text, options);
    const row: OutboxRow = {
      seq: this.outbox.length + 1,
      clientMessageId: `c${this.outbox.length + 1}`,
      fingerprint: 'f',
      meshId: this.mesh.meshId,
      targetSpec: target,
      targetLabel: options.label ?? target,
      priority: options.priority ?? 'next',
      nonce: '',
      ciphertext: '',
      text,
      status: 'queued',
      attempts: 0,
      nextAttemptAt: 0,
      createdAt: Date.now(),
    };
    this.setOutbox([...this.outbox, row]);
    return row;
  }
  async retry(clientMessageId: string): Promise<void> {
    this.record('retry', clientMessageId);
  }
  async retryFailed(): Promise<number> {
    this.record('retryFailed');
    return this.outbox.filter((r) => r.status === 'failed').length;
  }
  async discard(clientMessageId: string): Promise<void> {
    this.record('discard', clientMessageId);
    this.setOutbox(this.outbox.filter((r) => r.clientMessageId !== clientMessageId));
  }
  async discardFailed(): Promise<number> {
    this.record('discardFailed');
    const failed = this.outbox.filter((r) => r.status === 'failed').length;
    this.setOutbox(this.outbox.filter((r) => r.status !== 'failed'));
    return failed;
  }
  async resendTo(clientMessageId: string, sessionPubkey: string): Promise<void> {
    this.record('resendTo', clientMessageId, sessionPubkey);
  }
  otherSessionsFor(row: OutboxRow): Peer[] {
    const member = row.recipient?.memberPubkey;
    return member ? this.peers.filter((p) => p.memberPubkey === member && p.pubkey !== row.targetSpec && p.pubkey !== this.sessionPubkey) : [];
  }
  async listPeers(): Promise<Peer[]> {
    this.record('listPeers');
    return this.peers;
  }
  async getState(key: string): Promise<StateEntry | undefined> {
    return this.stateEntries.get(key);
  }
  async setState(key: string, value: unknown): Promise<void> {
    this.record('setState', key, value);
    this.stateEntries.set(key, { key, value, updatedBy: 'me', updatedAt: '' });
    this.sharedStateEmitter.fire({ key, value, updatedBy: 'me' });
  }
  async listState(): Promise<StateEntry[]> {
    return [...this.stateEntries.values()];
  }
  async remember(content: string, tags?: string[]): Promise<string> {
    this.record('remember', content, tags);
    return 'mem1';
  }
  async recall(query: string): Promise<Memory[]> {
    this.record('recall', query);
    return this.memories;
  }
  async forget(memoryId: string): Promise<void> {
    this.record('forget', memoryId);
  }
  async listSkills(): Promise<SkillSummary[]> {
    return this.skills;
  }
  async getSkill(name: string): Promise<Skill | undefined> {
    return this.skills.find((s) => s.name === name);
  }
  async shareSkill(skill: { name: string }): Promise<void> {
    this.record('shareSkill', skill);
  }
  async removeSkill(name: string): Promise<boolean> {
    this.record('removeSkill', name);
    return true;
  }
  async setStatus(status: PeerStatus): Promise<void> {
    this.record('setStatus', status);
  }
  async setSummary(summary: string): Promise<void> {
    this.record('setSummary', summary);
  }
  async setVisible(visible: boolean): Promise<void> {
    this.record('setVisible', visible);
  }
  async setProfile(profile: PeerProfile): Promise<void> {
    this.record('setProfile', profile);
  }
  async messageStatus(messageId: string): Promise<MessageStatus> {
    return { messageId, targetSpec: '', delivered: false, deliveredAt: null, recipients: [] };
  }
  async meshInfo(): Promise<MeshInfo> {
    return { mesh: this.mesh.slug, peers: this.peers.length, groups: [], stateKeys: 0, memoryCount: 0, yourName: '', yourGroups: [] };
  }
}

// ---- a scratch CLI config and a running extension -------------------------------------------------------------

let idCounter = 0;
/** A 32-char base62 id, as the broker's DB makes. */
export function base62Id(prefix: string): string {
  return (prefix + String(++idCounter)).padEnd(32, '0').slice(0, 32);
}

export function makeMesh(slug: string, brokerUrl = 'ws://127.0.0.1:9/ws', keypair = generateKeypair()): JoinedMesh {
  return {
    meshId: base62Id(`mesh${slug.replace(/[^0-9A-Za-z]/g, '')}`),
    memberId: base62Id('member'),
    slug,
    name: slug,
    pubkey: keypair.pubkey,
    secretKey: keypair.secretKey,
    brokerUrl,
    joinedAt: '2024-01-01T00:00:00.000Z',
  };
}

/** Writes a CLI config holding `meshes` and points the claudemesh.configPath setting at it. */
export async function useConfig(dir: string, meshes: JoinedMesh[], extra: Record<string, unknown> = {}): Promise<string> {
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify({ version: 1, meshes, ...extra }, null, 2), { mode: 0o600 });
  await vscode.workspace.getConfiguration('claudemesh').update('configPath', file);
  return file;
}

export interface FakeRun {
  running: Running;
  context: ReturnType<typeof vscode.makeExtensionContext>;
  clients: FakeMeshClient[];
  /** The fake client of the mesh with this slug (the latest one, if the mesh was reconnected). */
  client(slug: string): FakeMeshClient;
}

/** The real extension (views, commands, status bar) over scripted clients. */
export async function startWithFakes(root: string, context = vscode.makeExtensionContext(root), startOptions: StartOptions = {}): Promise<FakeRun> {
  const clients: FakeMeshClient[] = [];
  const running = start(
    context as never,
    (options) => {
      const client = new FakeMeshClient(options);
      clients.push(client);
      return client;
    },
    startOptions,
  );
  await running.ready;
  return {
    running,
    context,
    clients,
    client(slug) {
      const found = clients.filter((c) => c.mesh.slug === slug).pop();
      if (!found) throw new Error(`no client for mesh ${slug}`);
      return found;
    },
  };
}

export function scratchDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'claudemesh-views-'));
}

export interface Scratch {
  /** This test's own folder: configs, workspace files and storage go under it. */
  readonly dir: string;
  /** startWithFakes, and the run is disposed after the test. */
  start(...args: Parameters<typeof startWithFakes>): Promise<FakeRun>;
}

/**
 * Every test of the calling `describe` on a fresh fake `vscode` and a scratch folder, which is the workspace folder
 * (`folder` under it, or none when `folder` is null). After each test the runs it started are disposed, the folder
 * is removed and the scripted user checked (assertScriptUsed) unless `checkScript` is false.
 */
export function scratchWorkspace(options: { folder?: string | null; checkScript?: boolean } = {}): Scratch {
  const { folder = '', checkScript = true } = options;
  let dir = '';
  let runs: FakeRun[] = [];
  beforeEach(() => {
    vscode.reset();
    dir = scratchDir();
    if (folder !== null) vscode.workspace.workspaceFolders = [{ uri: vscode.Uri.file(path.join(dir, folder)), name: folder || 'work', index: 0 }];
  });
  afterEach(async () => {
    // A run the test disposed already is not disposed twice: dispose() waits for the first call.
    for (const run of runs) await run.running.dispose();
    runs = [];
    fs.rmSync(dir, { recursive: true, force: true });
    if (checkScript) assertScriptUsed();
  });
  return {
    get dir() {
      return dir;
    },
    async start(...args) {
      const run = await startWithFakes(...args);
      runs.push(run);
      return run;
    },
  };
}

/** The chat panel in front, with its page loaded (what the page script, src/views/chat/page.js, does first: say it is ready). */
export function frontChat(): vscode.FakeWebviewPanel {
  const panel = vscode.webviewPanels.filter((p) => !p.disposed && p.active).pop();
  if (!panel) throw new Error(`no chat panel is in front (panels: ${vscode.webviewPanels.map((p) => p.title).join(', ') || 'none'})`);
  if (!panel.webview.posted.some((m) => m.type === 'state')) panel.webview.fromPage({ type: 'ready' });
  return panel;
}

/** The page as the patches built it (as page.js applies them): each item's latest HTML, in the latest order, joined. */
export function chatHtml(panel: vscode.FakeWebviewPanel): string {
  const html = new Map<string, string>();
  let order: string[] = [];
  for (const patch of panel.webview.postedOf('patch')) {
    for (const [id, item] of Object.entries(patch.html as Record<string, string>)) html.set(id, item);
    order = [...order.slice(0, patch.keep as number), ...(patch.order as string[])];
  }
  return order.map((id) => html.get(id) ?? `<missing ${id}>`).join('\n');
}

/** Every message, quick pick and input box the test scripted was used as intended. */
export function assertScriptUsed(): void {
  if (vscode.ui.scriptErrors.length) throw new Error(`the scripted user was confused:\n${vscode.ui.scriptErrors.join('\n')}`);
  const left = Object.entries(vscode.ui.queue).filter(([, queue]) => queue.length > 0);
  if (left.length) throw new Error(`scripted answers were never asked for: ${left.map(([kind, q]) => `${q.length} ${kind}`).join(', ')}`);
}
