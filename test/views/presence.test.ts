/**
 * The peer-list schedule (src/views/peers/presence.ts) with scripted timers, a scripted clock and scripted views: when it
 * reads, how often, and what bounds the cost.
 */
import { strict as assert } from 'node:assert';
import * as vscode from '../support/fakeVscode';
import { generateKeypair } from '../../src/broker/crypto';
import type { Peer } from '../../src/broker/types';
import type { Ctx } from '../../src/views/shared/ctx';
import { PeerListPoller, Timers } from '../../src/views/peers/presence';
import { FakeMeshClient, makeMesh } from './harness';

/** Timers that fire only when the test says so. */
class ScriptedTimers implements Timers {
  pending = new Map<number, { callback: () => void; ms: number }>();
  private next = 1;
  set(callback: () => void, ms: number): number {
    this.pending.set(this.next, { callback, ms });
    return this.next++;
  }
  clear(handle: unknown): void {
    this.pending.delete(handle as number);
  }
  /** Fires the one pending timer and returns the delay it was set for. */
  fire(): number {
    assert.equal(this.pending.size, 1, 'exactly one timer is pending');
    const [[handle, { callback, ms }]] = this.pending;
    this.pending.delete(handle);
    callback();
    return ms;
  }
}

class ScriptedView {
  private readonly changes = new vscode.EventEmitter<unknown>();
  readonly onDidChangeVisibility = this.changes.event;
  constructor(public visible: boolean) {}
  set(visible: boolean): void {
    this.visible = visible;
    this.changes.fire({ visible });
  }
}

function connectedClient(slug: string): FakeMeshClient {
  const client = new FakeMeshClient({ mesh: makeMesh(slug), sessionKey: generateKeypair() } as never);
  client.setConnection({ kind: 'connected', presenceId: 'p', displayName: 'me' });
  return client;
}

function fakeCtx(clients: FakeMeshClient[]): Ctx {
  return {
    clients,
    onDidChangeConnection: new vscode.EventEmitter<void>().event,
    onDidChangeClients: new vscode.EventEmitter<void>().event,
    log: vscode.window.createOutputChannel('test'),
  } as unknown as Ctx;
}

/** Lets the scripted clients' async answers land. */
const settle = () => new Promise((resolve) => setImmediate(resolve));
const reads = (client: FakeMeshClient) => client.calls.filter((c) => c.method === 'listPeers').length;

describe('the peer-list schedule', () => {
  let timers: ScriptedTimers;
  let clock: number;
  let poller: PeerListPoller | undefined;
  const options = (random = 0.5) => ({ timers, now: () => clock, random: () => random, periodMs: 15_000, jitterMs: 2_500, minGapMs: 5_000 });

  beforeEach(() => {
    vscode.reset();
    timers = new ScriptedTimers();
    clock = 0;
  });
  afterEach(() => poller?.dispose());

  it('re-reads every connected mesh once a period while a view is visible', async () => {
    const [team, ops] = [connectedClient('team'), connectedClient('ops')];
    poller = new PeerListPoller(fakeCtx([team, ops]), [new ScriptedView(true)], options());
    for (let period = 1; period <= 3; period++) {
      clock += timers.fire();
      assert.deepEqual([reads(team), reads(ops)], [period, period], 'one list_peers per period per mesh');
      await settle();
    }
  });

  it('reads nothing while no view is visible, and at once when one comes into sight', () => {
    const team = connectedClient('team');
    const view = new ScriptedView(false);
    poller = new PeerListPoller(fakeCtx([team]), [view], options());
    assert.equal(timers.pending.size, 0, 'no timer while nobody can see the list');
    view.set(true);
    assert.equal(reads(team), 1);
    assert.equal(timers.pending.size, 1, 'and the period starts');
    view.set(false);
    assert.equal(timers.pending.size, 0);
  });

  it('reads when the window gets focus after a while, but not again within the minimum gap', async () => {
    const team = connectedClient('team');
    poller = new PeerListPoller(fakeCtx([team]), [new ScriptedView(true)], options());
    vscode.window.setFocused(true);
    assert.equal(reads(team), 1);
    await settle();
    clock += 1_000;
    vscode.window.setFocused(false);
    vscode.window.setFocused(true);
    assert.equal(reads(team), 1, 'a second focus within 5 s reads nothing');
    clock += 5_000;
    vscode.window.setFocused(true);
    assert.equal(reads(team), 2);
  });

  it('keeps at most one list_peers in flight per mesh, even on Refresh', async () => {
    const team = connectedClient('team');
    // The first read hangs until the test answers it; later ones answer at once.
    let answer: ((peers: Peer[]) => void) | undefined;
    team.listPeers = async () => {
      team.calls.push({ method: 'listPeers', args: [] });
      return reads(team) === 1 ? new Promise<Peer[]>((resolve) => (answer = resolve)) : [];
    };
    poller = new PeerListPoller(fakeCtx([team]), [new ScriptedView(true)], options());
    clock += timers.fire();
    const refreshed = poller.refreshNow();
    clock += timers.fire();
    assert.equal(reads(team), 1, 'the slow read is not doubled');
    answer!([]);
    await refreshed;
    await settle();
    await poller.refreshNow();
    assert.equal(reads(team), 2, 'Refresh reads at once once nothing is in flight');
  });

  it('skips meshes that are not connected', () => {
    const [team, ops] = [connectedClient('team'), connectedClient('ops')];
    ops.setConnection({ kind: 'reconnecting', attempt: 1, retryAt: 0, lastError: 'socket hang up' });
    poller = new PeerListPoller(fakeCtx([team, ops]), [new ScriptedView(true)], options());
    clock += timers.fire();
    assert.deepEqual([reads(team), reads(ops)], [1, 0]);
  });

  it('spreads the period by its jitter, so a change shows within 17.5 s and windows do not poll in step', () => {
    const team = connectedClient('team');
    poller = new PeerListPoller(fakeCtx([team]), [new ScriptedView(true)], options(0));
    assert.equal(timers.fire(), 12_500);
    poller.dispose();
    poller = new PeerListPoller(fakeCtx([team]), [new ScriptedView(true)], options(1));
    assert.equal(timers.fire(), 17_500);
  });
});
