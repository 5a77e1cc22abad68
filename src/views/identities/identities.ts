/**
 * Where identities come from and where their secrets live.
 *
 * Member identities: the claudemesh CLI config (read in place, never copied) plus meshes joined from VS Code, whose
 * public part is in globalState and whose secret key is in `context.secrets`.
 *
 * Session identities: one keypair per (workspace, mesh, slot), secret in `context.secrets`. Slot 0 is the workspace's
 * usual key, so a window reload reattaches within the broker's grace; a second window on the same workspace finds
 * slot 0 leased (a lock file under globalStorageUri, see FileLeases) and takes the next free slot, so two windows never
 * share a session key. Leases are not kept in globalState: that is one object per extension, rewritten whole by every
 * window's heartbeat, last writer wins, so one window's heartbeat could erase another's fresh lease.
 *
 * Secret storage cannot list its keys, so the slot names whose secrets were stored are kept in globalState (names
 * and when each was last taken or let go; never a secret). A slot not used for SLOT_FORGET_MS whose lease nobody
 * holds (this window takes it for the moment, so nobody can be using it) has its secret deleted at activation. A lost
 * update of that list (two windows writing it at once) only leaves a secret for later: each acquire writes it again.
 * Secrets stored by versions before the list are listed when their slot is next used.
 */
import * as crypto from 'crypto';
import * as path from 'path';
import * as vscode from 'vscode';
import { loadConfig } from '../../broker/config';
import { generateKeypair } from '../../broker/crypto';
import type { SessionKey } from '../../broker/connection';
import { SECRET_KEY } from '../../broker/keys';
import { FileLeases } from '../../broker/leases';
import type { JoinedMesh, Logger } from '../../broker/types';

export interface Identity {
  mesh: JoinedMesh;
  source: 'cli' | 'vscode';
}

export interface LoadedIdentities {
  identities: Identity[];
  configPath: string;
  configExists: boolean;
  /** Problems worth showing: unreadable config, bad entries, missing secrets. A missing config file is not one. */
  problems: string[];
  displayName?: string;
}

type PublicMesh = Omit<JoinedMesh, 'secretKey'>;

const JOINED_KEY = 'claudemesh.joinedMeshes';
const memberSecretKey = (meshId: string, pubkey: string) => `claudemesh.memberSecret/${meshId}/${pubkey}`;

/** The CLI config's meshes first (the user's primary identities), then the ones joined in VS Code. */
export async function loadIdentities(context: vscode.ExtensionContext, configPath: string | undefined): Promise<LoadedIdentities> {
  const config = configPath ? loadConfig(configPath) : loadConfig();
  const problems = config.exists ? [...config.problems] : [];
  const identities: Identity[] = config.meshes.map((mesh) => ({ mesh, source: 'cli' }));
  const known = new Set(identities.map((i) => i.mesh.meshId));

  for (const saved of context.globalState.get<PublicMesh[]>(JOINED_KEY, [])) {
    if (known.has(saved.meshId)) continue;
    const secretKey = await context.secrets.get(memberSecretKey(saved.meshId, saved.pubkey));
    if (!secretKey) {
      problems.push(`The key for mesh "${saved.slug}" is missing from VS Code's secret storage. Join it again from an invite link.`);
      continue;
    }
    identities.push({ mesh: { ...saved, secretKey }, source: 'vscode' });
    known.add(saved.meshId);
  }
  return { identities, configPath: config.path, configExists: config.exists, problems, displayName: config.displayName };
}

/** Stores a mesh joined from VS Code: the secret key in secret storage, everything else in globalState. */
export async function saveJoinedMesh(context: vscode.ExtensionContext, mesh: JoinedMesh): Promise<void> {
  const { secretKey, ...publicPart } = mesh;
  await context.secrets.store(memberSecretKey(mesh.meshId, mesh.pubkey), secretKey);
  const others = context.globalState.get<PublicMesh[]>(JOINED_KEY, []).filter((m) => m.meshId !== mesh.meshId);
  await context.globalState.update(JOINED_KEY, [...others, publicPart]);
}

/** Whether `mesh` is among the ones the user asked for (`claudemesh.meshes`, slugs or ids; empty means all). */
export function isSelected(mesh: JoinedMesh, selection: readonly string[]): boolean {
  return selection.length === 0 || selection.includes(mesh.slug) || selection.includes(mesh.meshId);
}

export interface SessionIdentity {
  sessionKey: SessionKey;
  sessionId: string;
  slot: number;
}

export const LEASE_BEAT_MS = 20_000;
/** A lease not renewed for this long belongs to a window that is gone (crashed, or killed before deactivate). */
export const LEASE_STALE_MS = 60_000;
/** A slot not taken for this long is a workspace closed for good, or a second window of it: its key is deleted. */
export const SLOT_FORGET_MS = 30 * 24 * 3600_000;
const MAX_SLOTS = 16;
/** globalState: slot name → ms when a window last took or let go that slot. */
const SLOTS_KEY = 'claudemesh.sessionSlots';
const sessionSecretName = (name: string) => `claudemesh.sessionSecret/${name}`;

/**
 * Hands out this window's session identities and keeps their leases alive. One instance per window; `dispose()`
 * releases the leases so a reload of this window finds its slots free again.
 */
export class SessionKeys implements vscode.Disposable {
  /** Random per activation: tells this window's leases from those of other windows. */
  readonly windowId = crypto.randomUUID();
  private readonly held = new Map<string, string>();
  private readonly timer: NodeJS.Timeout;
  private readonly leases: FileLeases;
  /** The sweep of long-unused slots started at construction; resolves to how many secrets it deleted. */
  readonly forgotten: Promise<number>;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.leases = new FileLeases(path.join(context.globalStorageUri.fsPath, 'leases'), this.windowId, LEASE_STALE_MS, now);
    // Earlier versions kept leases in globalState; they only ever expire, so drop them.
    for (const key of context.globalState.keys()) if (key.startsWith('claudemesh.lease/')) void context.globalState.update(key, undefined);
    this.timer = setInterval(() => void this.renew(), LEASE_BEAT_MS);
    this.timer.unref?.();
    this.forgotten = this.forgetUnusedSlots().catch((err: Error) => {
      this.log.warn(`Could not delete the session keys of long-unused slots: ${err.message}`);
      return 0;
    });
  }

  /** The workspace this window has open, hashed: key names must not reveal paths. */
  static workspaceKey(): string {
    const folders = vscode.workspace.workspaceFolders?.map((f) => f.uri.toString()) ?? [];
    const identity = vscode.workspace.workspaceFile?.toString() ?? (folders.join('\n') || 'no-workspace');
    return crypto.createHash('sha256').update(identity).digest('hex').slice(0, 16);
  }

  async acquire(meshId: string): Promise<SessionIdentity> {
    // The sweep takes leases under this window's id: it must be done before this window takes one of the same name.
    await this.forgotten;
    const existing = this.held.get(meshId);
    const base = `${meshId}/${SessionKeys.workspaceKey()}`;
    for (let slot = 0; slot < MAX_SLOTS; slot++) {
      const name = `${base}/${slot}`;
      if (existing !== undefined && existing !== name) continue;
      try {
        if (!(await this.leases.tryAcquire(name))) continue;
      } catch (err) {
        this.log.warn(`Could not take a session slot lease (${(err as Error).message}); this window uses a temporary session key.`);
        return temporarySession();
      }
      this.held.set(meshId, name);
      const sessionKey = await this.sessionKey(name);
      await this.markUsed(name);
      return { sessionKey, sessionId: this.sessionId(name), slot };
    }
    // Every slot busy means many windows on one workspace; a throwaway identity still works, it just cannot reattach.
    this.log.warn(`All ${MAX_SLOTS} session slots for this workspace are in use; this window uses a temporary session key.`);
    return temporarySession();
  }

  async release(meshId: string): Promise<void> {
    const name = this.held.get(meshId);
    this.held.delete(meshId);
    if (!name) return;
    // The lease file first, and without waiting on VS Code: on a window reload the extension host invalidates its
    // proxies before deactivate runs, so a globalState write fails, and a lease left behind sends the reloaded window
    // to another slot (another session key, while the old session lingers 90 s at the broker as a second "you").
    await this.leases.release(name).catch((err: Error) => this.log.warn(`Could not release a session slot lease: ${err.message}`));
    await this.markUsed(name).catch((err: Error) => this.log.debug(`Could not record when a session slot was last used: ${err.message}`));
  }

  private slots(): Record<string, number> {
    return { ...this.context.globalState.get<Record<string, number>>(SLOTS_KEY, {}) };
  }

  private async markUsed(name: string): Promise<void> {
    await this.context.globalState.update(SLOTS_KEY, { ...this.slots(), [name]: this.now() });
  }

  /** Deletes the secrets of slots unused for SLOT_FORGET_MS, each while holding its lease so no window can be using it. */
  private async forgetUnusedSlots(): Promise<number> {
    let forgotten = 0;
    for (const [name, usedAt] of Object.entries(this.slots())) {
      if (this.now() - usedAt < SLOT_FORGET_MS || [...this.held.values()].includes(name)) continue;
      if (!(await this.leases.tryAcquire(name))) continue; // a window that has been open the whole time
      try {
        await this.context.secrets.delete(sessionSecretName(name));
        const rest = this.slots();
        delete rest[name];
        await this.context.globalState.update(SLOTS_KEY, rest);
        forgotten++;
      } finally {
        await this.leases.release(name);
      }
    }
    if (forgotten) this.log.info(`Deleted the session keys of ${forgotten} slot(s) unused for ${Math.round(SLOT_FORGET_MS / 86_400_000)} days.`);
    return forgotten;
  }

  /** Resolves once every lease is released, so a reload of this window finds its slots free. */
  async dispose(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.held.keys()].map((meshId) => this.release(meshId)));
  }

  private async renew(): Promise<void> {
    for (const [meshId, name] of this.held) {
      try {
        if (!(await this.leases.renew(name))) this.log.warn(`${meshId}: another window took over this window's session slot (this window was unresponsive for a minute); reload the window to take a free one.`);
      } catch (err) {
        this.log.warn(`Could not renew a session slot lease: ${(err as Error).message}`);
      }
    }
  }

  private async sessionKey(name: string): Promise<SessionKey> {
    const secretName = sessionSecretName(name);
    try {
      const stored = await this.context.secrets.get(secretName);
      if (stored && SECRET_KEY.test(stored)) return { pubkey: stored.slice(64), secretKey: stored };
      const fresh = generateKeypair();
      await this.context.secrets.store(secretName, fresh.secretKey);
      return fresh;
    } catch (err) {
      // No keyring (e.g. a Linux desktop without one): connect anyway, without reattach after a reload.
      this.log.warn(`Secret storage is unavailable (${(err as Error).message}); using a temporary session key.`);
      return generateKeypair();
    }
  }

  /** Not secret, so workspaceState; per slot, because the broker replaces any other connection with the same id. */
  private sessionId(name: string): string {
    const key = `claudemesh.sessionId/${name}`;
    let id = this.context.workspaceState.get<string>(key);
    if (!id) {
      id = `vscode-${crypto.randomUUID()}`;
      void this.context.workspaceState.update(key, id);
    }
    return id;
  }
}

function temporarySession(): SessionIdentity {
  return { sessionKey: generateKeypair(), sessionId: crypto.randomUUID(), slot: -1 };
}
