/**
 * Keeps the peer list true while someone can see it. The broker pushes joins and leaves, but no event for a status,
 * summary or profile change, so a peer going "working" shows only when the list is read again. While any Claudemesh
 * view is visible this re-reads it every `periodMs` (± `jitterMs`, so windows do not poll in step), at once when a view
 * becomes visible or the window gains focus after a while, and on Refresh. The cost stays bounded: at most one
 * `list_peers` in flight per mesh, and none sooner than `minGapMs` after the last one unless the user asks.
 */
import * as vscode from 'vscode';
import type { MeshClientApi } from '../../broker/types';
import type { Ctx } from '../shared/ctx';
import { errorMessage } from '../shared/text';

/** Something that can be seen: a tree view, and later a panel. */
export interface Visible {
  readonly visible: boolean;
  readonly onDidChangeVisibility: (listener: (event: unknown) => unknown) => vscode.Disposable;
}

export interface PresenceOptions {
  periodMs?: number;
  jitterMs?: number;
  minGapMs?: number;
  /** For tests: a clock, a random source and timers. */
  now?: () => number;
  random?: () => number;
  timers?: Timers;
}

export interface Timers {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const REAL_TIMERS: Timers = {
  set(callback, ms) {
    const handle = setTimeout(callback, ms);
    handle.unref?.();
    return handle;
  },
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export class PeerListPoller implements vscode.Disposable {
  readonly periodMs: number;
  private readonly jitterMs: number;
  private readonly minGapMs: number;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly timers: Timers;
  private readonly lastRead = new Map<MeshClientApi, number>();
  private readonly inFlight = new Set<MeshClientApi>();
  private timer: unknown;
  private readonly subscriptions: vscode.Disposable[];

  constructor(
    private readonly ctx: Ctx,
    private readonly views: readonly Visible[],
    options: PresenceOptions = {},
  ) {
    this.periodMs = options.periodMs ?? 15_000;
    this.jitterMs = options.jitterMs ?? 2_500;
    this.minGapMs = options.minGapMs ?? 5_000;
    this.now = options.now ?? (() => performance.now());
    this.random = options.random ?? Math.random;
    this.timers = options.timers ?? REAL_TIMERS;
    const poll = () => this.poll();
    this.subscriptions = [
      ...views.map((view) => view.onDidChangeVisibility(poll)),
      vscode.window.onDidChangeWindowState((state) => state.focused && poll()),
      // A mesh coming up starts the schedule; one that keeps flapping must not keep postponing it for the others.
      ctx.onDidChangeConnection(() => this.timer === undefined && this.schedule()),
      ctx.onDidChangeClients(() => {
        for (const client of this.lastRead.keys()) if (!ctx.clients.includes(client)) this.lastRead.delete(client);
        if (this.timer === undefined) this.schedule();
      }),
    ];
    this.schedule();
  }

  /** Whether anyone can see the list right now. */
  get watched(): boolean {
    return this.views.some((view) => view.visible);
  }

  /** Refresh: reads every connected mesh's list now, whatever the schedule says. */
  async refreshNow(): Promise<void> {
    await Promise.all(this.connected().map((client) => this.read(client)));
  }

  private schedule(): void {
    this.stopTimer();
    if (!this.watched || this.connected().length === 0) return;
    const delay = this.periodMs + (this.random() * 2 - 1) * this.jitterMs;
    this.timer = this.timers.set(() => this.poll(), delay);
  }

  private stopTimer(): void {
    if (this.timer !== undefined) this.timers.clear(this.timer);
    this.timer = undefined;
  }

  /** On the timer, when a view comes into sight and when the window gets focus: read what is stale, then wait a period. */
  private poll(): void {
    if (this.watched) {
      for (const client of this.connected()) {
        if (this.now() - (this.lastRead.get(client) ?? -Infinity) >= this.minGapMs) void this.read(client);
      }
    }
    this.schedule();
  }

  private connected(): MeshClientApi[] {
    return this.ctx.clients.filter((client) => client.state.kind === 'connected');
  }

  private async read(client: MeshClientApi): Promise<void> {
    if (this.inFlight.has(client)) return;
    this.inFlight.add(client);
    this.lastRead.set(client, this.now());
    try {
      await client.listPeers();
    } catch (err) {
      this.ctx.log.debug(`${client.mesh.slug}: peer list refresh failed: ${errorMessage(err)}`);
    } finally {
      this.inFlight.delete(client);
    }
  }

  dispose(): void {
    this.stopTimer();
    for (const s of this.subscriptions) s.dispose();
  }
}
