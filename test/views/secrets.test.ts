/**
 * Secrets stay inside the extension: other extensions get no exports outside tests, and a config with key material
 * in every field shape produces problems that name file, entry and field but never put the key in a toast, the log,
 * workspace or global state, or the settings. And the hello tells other members only what the share.* settings allow.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { generateKeypair } from '../../src/broker/crypto';
import { activate, deactivate } from '../../src/extension';
import * as vscode from '../support/fakeVscode';
import { FileLeases } from '../../src/broker/leases';
import type { Logger } from '../../src/broker/types';
import { LEASE_STALE_MS, SessionKeys, SLOT_FORGET_MS } from '../../src/views/identities/identities';
import { FAST_TIMING, MeshFixture, waitUntil } from '../support/meshFixture';
import { FakeRun, makeMesh, scratchWorkspace, useConfig } from './harness';

const root = path.resolve(__dirname, '../../..');

describe('secrets stay inside the extension', () => {
  let run: FakeRun | undefined;
  const scratch = scratchWorkspace({ folder: null });

  beforeEach(async () => {
    await vscode.workspace.getConfiguration('claudemesh').update('configPath', path.join(scratch.dir, 'config.json'));
  });

  it('hands its running app to extension.exports only in ExtensionMode.Test', async () => {
    for (const mode of [vscode.ExtensionMode.Production, vscode.ExtensionMode.Development, vscode.ExtensionMode.Test]) {
      const exported = activate({ ...vscode.makeExtensionContext(root), extensionMode: mode } as never);
      assert.equal(exported !== undefined, mode === vscode.ExtensionMode.Test, `exports in mode ${vscode.ExtensionMode[mode]}`);
      await deactivate();
    }
  });

  it('names file, entry and field of every bad config value but never shows or stores key material', async () => {
    const planted = generateKeypair();
    const secret = planted.secretKey;
    const seed = secret.slice(0, 64);
    const good = makeMesh('good');
    const bad = (fields: Record<string, unknown>) => ({ ...makeMesh('bad'), ...fields });
    const entries: unknown[] = [
      good,
      secret,
      seed,
      [secret],
      { secretKey: secret },
      bad({ meshId: secret }),
      bad({ memberId: seed }),
      bad({ pubkey: secret }),
      bad({ pubkey: seed.toUpperCase() }),
      bad({ secretKey: secret + 'ff' }),
      bad({ secretKey: secret.toUpperCase() }),
      bad({ secretKey: seed }),
      bad({ secretKey: planted.secretKey.slice(0, 64) + good.pubkey }),
      bad({ brokerUrl: secret }),
      bad({ brokerUrl: `wss://broker.example/ws?key=${secret}` }),
      bad({ brokerUrl: `wss://broker.example/${secret}` }),
      bad({ brokerUrl: `${seed.replace(/^[0-9]+/, '')}://x/ws` }),
      bad({ joinedAt: { secret } }),
      bad({ rootKey: [secret] }),
      bad({ inviteVersion: secret }),
      bad({ slug: { secret }, name: [seed] }),
    ];
    const file = path.join(scratch.dir, 'config.json');
    fs.writeFileSync(file, JSON.stringify({ version: 1, displayName: { secret }, meshes: entries }));
    vscode.ui.queue.message.push('Show Logs');
    run = await scratch.start(root);
    assert.deepEqual(run.clients.map((c) => c.mesh.slug), ['good'], 'the good mesh still connects');

    const log = vscode.outputChannels.flatMap((c) => c.lines).join('\n');
    const problems = log.split('\n').filter((l) => l.startsWith('[warning]'));
    assert.ok(problems.length >= entries.length - 1, `one problem per bad entry at least:\n${problems.join('\n')}`);
    for (let index = 1; index < entries.length; index++) {
      assert.ok(problems.some((p) => p.includes(`meshes[${index}]`)), `no problem names meshes[${index}]`);
    }
    assert.ok(problems.some((p) => p.includes('config.json: displayName')), 'the top-level field is named');
    assert.ok(problems.some((p) => /meshes\[14\]\.brokerUrl/.test(p)), 'the field is named');

    // Broken JSON with the secret right where the parser stops.
    fs.writeFileSync(file, `{"meshes": [{"secretKey": ${seed}}]}`);
    await run.running.app.ctx.reload();
    fs.writeFileSync(file, `{"meshes": [{"secretKey": "${secret}" "pubkey": 1}]}`);
    await run.running.app.ctx.reload();
    fs.writeFileSync(file, `{"meshes": [{"secretKey": "${secret}\u0001"}]}`);
    await run.running.app.ctx.reload();

    const toasts = vscode.ui.messages.map((m) => `${m.message}\n${m.detail ?? ''}`);
    assert.ok(toasts.length >= 3 && toasts.every((t) => t.includes('config.json')), toasts.join('\n'));
    const haystacks = {
      toasts: toasts.join('\n'),
      log: vscode.outputChannels.flatMap((c) => c.lines).join('\n'),
      workspaceState: run.context.workspaceState.dump(),
      globalState: run.context.globalState.dump(),
      settings: vscode.workspace.dumpSettings(),
      contextKeys: JSON.stringify([...vscode.contextKeys]),
    };
    const forms = [seed, seed.toUpperCase(), secret.slice(64), Buffer.from(seed, 'hex').toString('base64'), Buffer.from(secret, 'hex').toString('base64')];
    for (const [where, text] of Object.entries(haystacks)) {
      for (const form of forms) {
        // Any 12 characters in a row of the key is too many.
        for (let i = 0; i + 12 <= form.length; i += 4) assert.ok(!text.includes(form.slice(i, i + 12)), `part of the planted key appears in ${where}:\n${text}`);
      }
    }
  });
});

describe('session keys of windows that are gone', () => {
  const quiet: Logger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };
  const DAY = 86_400_000;
  const windows: SessionKeys[] = [];
  beforeEach(() => vscode.reset());
  afterEach(async () => {
    for (const w of windows.splice(0)) await w.dispose();
  });

  it('deletes the secret of a slot unused for a month, of a crashed window or a closed one, and keeps the rest', async () => {
    const context = vscode.makeExtensionContext(root);
    let now = Date.now();
    const open = (clock = () => now) => {
      const w = new SessionKeys(context as never, quiet, clock);
      windows.push(w);
      return w;
    };
    const secretNames = () => [...context.secrets.map.keys()].filter((k) => k.startsWith('claudemesh.sessionSecret/')).sort();
    const slotName = (meshId: string, slot: number) => `${meshId}/${SessionKeys.workspaceKey()}/${slot}`;

    const crashed = open();
    const closed = open();
    const longRunning = open();
    const recent = open();
    assert.equal((await crashed.acquire('mesh-a')).slot, 0);
    assert.equal((await closed.acquire('mesh-a')).slot, 1);
    assert.equal((await longRunning.acquire('mesh-a')).slot, 2);
    windows.splice(windows.indexOf(crashed), 1); // it never gets to release its lease
    await closed.dispose();
    now += SLOT_FORGET_MS + DAY;
    // The long-running window kept beating; its slot's "last used" is a month old all the same.
    const beat = new FileLeases(path.join(context.globalStorageUri.fsPath, 'leases'), longRunning.windowId, LEASE_STALE_MS, () => now);
    assert.equal(await beat.renew(slotName('mesh-a', 2)), true);
    assert.equal((await recent.acquire('mesh-b')).slot, 0);
    assert.equal(secretNames().length, 4);
    assert.doesNotMatch(context.globalState.dump(), /[0-9a-f]{128}/, 'the list of slots holds names, no secret');

    const next = open();
    assert.equal(await next.forgotten, 2);
    assert.deepEqual(secretNames(), [slotName('mesh-a', 2), slotName('mesh-b', 0)].map((n) => `claudemesh.sessionSecret/${n}`).sort());
    const listed = Object.keys(context.globalState.get<Record<string, number>>('claudemesh.sessionSlots') ?? {}).sort();
    assert.deepEqual(listed, [slotName('mesh-a', 2), slotName('mesh-b', 0)].sort());
    // The freed slots work as new ones: slot 0 gets a fresh key, not the deleted one.
    const taken = await next.acquire('mesh-a');
    assert.equal(taken.slot, 0);
    assert.equal(secretNames().length, 3);
    assert.equal(await open().forgotten, 0, 'nothing more to delete');
  });
});

describe('what the hello shares about this machine', () => {
  let run: FakeRun | undefined;
  const scratch = scratchWorkspace({ folder: 'api' });

  it('sends only the folder name and the host name by default, and what the settings say after a change', async () => {
    await useConfig(scratch.dir, [makeMesh('team')]);
    run = await scratch.start(root);
    const first = run.client('team');
    assert.deepEqual([first.options.cwd, first.options.hostname], ['api', os.hostname()]);

    await vscode.workspace.getConfiguration('claudemesh').update('share.workingFolder', 'nothing');
    await vscode.until(() => run!.client('team') !== first, 'a reconnect with the new presence fields');
    assert.ok(first.disposed);
    assert.deepEqual([run.client('team').options.cwd, run.client('team').options.hostname], ['', os.hostname()]);

    await vscode.workspace.getConfiguration('claudemesh').update('share.hostName', false);
    await vscode.workspace.getConfiguration('claudemesh').update('share.workingFolder', 'fullPath');
    await vscode.until(() => run!.client('team').options.cwd !== '' && run!.client('team').options.hostname === '', 'the full path without a host name');
    assert.equal(run.client('team').options.cwd, path.join(scratch.dir, 'api'));
  });

  it('never falls back to the home folder when no folder is open', async () => {
    vscode.workspace.workspaceFolders = undefined;
    await useConfig(scratch.dir, [makeMesh('team')]);
    await vscode.workspace.getConfiguration('claudemesh').update('share.workingFolder', 'fullPath');
    run = await scratch.start(root);
    assert.equal(run.client('team').options.cwd, '');
  });

  it('leaves the host name out of the hello itself, so the broker lists none', async function () {
    this.timeout(20_000);
    const fx = await MeshFixture.start();
    try {
      fx.client(fx.member('quiet'), { timing: FAST_TIMING, hostname: '', cwd: '' }).connect();
      const watcher = fx.client(fx.member('watcher'), { timing: FAST_TIMING });
      watcher.connect();
      await waitUntil(() => watcher.state.kind === 'connected', 'the watcher to connect');
      await waitUntil(() => watcher.peers.some((p) => p.displayName === 'quiet'), 'the quiet peer listed');
      const listed = (await watcher.listPeers()).find((p) => p.displayName === 'quiet');
      assert.ok(listed);
      assert.deepEqual([listed.hostname, listed.cwd], [undefined, '']);
      assert.equal((await watcher.listPeers()).find((p) => p.displayName === 'watcher')?.hostname, os.hostname());
    } finally {
      await fx.close();
    }
  });
});
