/**
 * One whole session of the real extension (real MeshClient, real views and commands, the fake `vscode`) against the
 * local broker, with a scripted peer "bob" on the other side. The tests run in order and share the session; the last
 * one scans everything the extension persisted or logged for secret keys.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { MeshClient } from '../../src/broker/client';
import type { InboundMessage, MeshClientApi, StateChange } from '../../src/broker/types';
import { Running, start } from '../../src/extension';
import * as vscode from '../support/fakeVscode';
import { acked, FAST_TIMING, Member, MeshFixture } from '../support/meshFixture';
import { assertScriptUsed, frontChat, scratchDir, useConfig } from './harness';

const root = path.resolve(__dirname, '../../..');
const labels = (nodes: vscode.TreeNode[]) => nodes.map((n) => n.label);

describe('a whole session against the local broker', function () {
  this.timeout(60_000);
  let fx: MeshFixture;
  let dir: string;
  let context: ReturnType<typeof vscode.makeExtensionContext>;
  let running: Running;
  let me: Member;
  let bob: MeshClient;
  const bobInbox: InboundMessage[] = [];
  const mine = (): MeshClientApi => {
    const client = running.app.ctx.client(me.mesh.meshId);
    assert.ok(client, 'the extension has a client for the mesh');
    return client;
  };

  before(async () => {
    vscode.reset();
    dir = scratchDir();
    vscode.workspace.workspaceFolders = [{ uri: vscode.Uri.file(dir), name: 'work', index: 0 }];
    fx = await MeshFixture.start({ graceMs: 300 });
    me = fx.member('me');
    await useConfig(dir, [me.mesh]);
    await vscode.workspace.getConfiguration('claudemesh').update('displayName', 'me');
    context = vscode.makeExtensionContext(root);
    running = start(context as never);
    await running.ready;
    await vscode.until(() => mine().state.kind === 'connected', 'the extension to connect');
    bob = fx.client(fx.member('bob', [{ name: 'devs' }]), { timing: FAST_TIMING });
    bob.onDidReceiveMessage((m) => bobInbox.push(m));
  });

  after(async () => {
    await running?.dispose();
    await fx?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  afterEach(() => {
    vscode.ui.onMessage = undefined;
    assertScriptUsed();
  });

  it('shows peers as they join and drops them when they leave', async () => {
    bob.connect();
    await vscode.until(async () => labels(await vscode.readTree('claudemesh.peers')).includes('bob'), 'bob in the Peers view');
    assert.deepEqual(labels(await vscode.readTree('claudemesh.peers')), ['me (you)', 'bob']);

    const carol = fx.client(fx.member('carol'));
    carol.connect();
    await vscode.until(async () => labels(await vscode.readTree('claudemesh.peers')).includes('carol'), 'carol in the Peers view');
    assert.match(vscode.statusBarItems[0].text, /^\$\(broadcast\) test-mesh · 2 peers/);
    await carol.dispose();
    // The broker keeps her listed through its offline grace, then announces peer_left.
    await vscode.until(async () => !labels(await vscode.readTree('claudemesh.peers')).includes('carol'), 'carol to leave the Peers view');
    assert.deepEqual(labels(await vscode.readTree('claudemesh.peers')), ['me (you)', 'bob']);
  });

  it("sends a message from bob's chat panel that reaches him and shows it in Messages", async () => {
    vscode.ui.queue.quickPick.push('bob');
    await vscode.commands.executeCommand('claudemesh.sendMessage');
    const chat = frontChat();
    assert.equal(chat.title, 'bob');
    chat.webview.fromPage({ type: 'send', text: 'hello bob 41c2', priority: 'next' });
    await vscode.until(() => bobInbox.some((m) => m.text === 'hello bob 41c2'), 'bob to receive the message');
    assert.equal(bobInbox.find((m) => m.text === 'hello bob 41c2')?.kind, 'direct');
    await vscode.until(() => mine().outbox.every((row) => acked(row)), 'the send to be acknowledged');
    const [conversation] = await vscode.readTree('claudemesh.messages');
    assert.deepEqual([conversation.label, conversation.description], ['bob', 'you: hello bob 41c2']);
  });

  it("raises a notification with Reply for an inbound message; Reply opens bob's panel and the answer reaches him", async () => {
    // The user went back to their code: bob's panel from the test before is in the background.
    frontChat().hide();
    vscode.ui.onMessage = (m) => (m.message.startsWith('bob:') ? 'Reply' : undefined);
    await bob.send(mine().sessionPubkey, 'ping 5b7a', { label: 'me' });
    await vscode.until(() => vscode.webviewPanels.some((p) => p.title === 'bob' && p.reveals > 0), "Reply to bring bob's panel to the front");
    const chat = frontChat();
    assert.ok(chat.webview.postedOf('focus').length, 'the composer has the cursor');
    chat.webview.fromPage({ type: 'send', text: 'pong 9d1e', priority: 'next' });
    await vscode.until(() => bobInbox.some((m) => m.text === 'pong 9d1e'), 'the reply to reach bob');
    const toast = vscode.ui.messages.find((m) => m.message.startsWith('bob:'));
    assert.deepEqual(toast && [toast.message, toast.items], ['bob: ping 5b7a', ['Reply', 'Open']]);
  });

  it('follows shared state set by a peer and sends the values the user sets', async () => {
    await bob.setState('build', { green: true });
    await vscode.until(
      async () => (await vscode.readTree('claudemesh.state')).some((n) => n.label === 'build' && n.description === '{"green":true}'),
      'the build key in the Shared State view',
    );
    const seen: StateChange[] = [];
    bob.onDidChangeSharedState((change) => seen.push(change));
    vscode.ui.queue.inputBox.push('owner', '"me"');
    await vscode.commands.executeCommand('claudemesh.setState');
    await vscode.until(() => seen.some((c) => c.key === 'owner' && c.value === 'me'), 'bob to see the new value');
    const build = (await vscode.readTree('claudemesh.state')).find((n) => n.label === 'build')!;
    await vscode.commands.executeCommand(build.command!, build.element);
    const shown = vscode.shownDocuments.pop()!;
    assert.equal(shown.languageId, 'json');
    assert.deepEqual(JSON.parse(shown.getText()), { key: 'build', updatedBy: 'bob', updatedAt: JSON.parse(shown.getText()).updatedAt, value: { green: true } });
  });

  it('lists skills, opens their instructions, shares the current file and removes a skill', async () => {
    await bob.shareSkill({ name: 'deploy', description: 'How we deploy', instructions: '# Deploy\nRun the pipeline.', tags: ['ops'] });
    await vscode.commands.executeCommand('claudemesh.refreshSkills');
    const [deploy] = await vscode.readTree('claudemesh.skills');
    assert.deepEqual([deploy.label, deploy.description], ['deploy', 'How we deploy']);
    await vscode.commands.executeCommand(deploy.command!, deploy.element);
    const document = vscode.shownDocuments.pop()!;
    assert.equal(document.languageId, 'plaintext', "a peer's Markdown is never rendered");
    assert.match(document.getText(), /^Claudemesh skill, shown as plain text; links in it are disabled\.\nName: deploy\nDescription: How we deploy\n/);
    assert.match(document.getText(), /\n# Deploy\nRun the pipeline\.$/);

    vscode.setActiveEditor(new vscode.FakeTextDocument(vscode.Uri.file(path.join(dir, 'review', 'SKILL.md')), '---\ndescription: Review a PR\n---\nRead the diff.\n'));
    vscode.ui.queue.inputBox.push((o) => o.value as string, (o) => o.value as string, 'review');
    await vscode.commands.executeCommand('claudemesh.shareSkill');
    assert.deepEqual(await bob.getSkill('review').then((s) => s && [s.description, s.instructions, s.tags]), ['Review a PR', 'Read the diff.\n', ['review']]);
    assert.deepEqual(labels(await vscode.readTree('claudemesh.skills')), ['deploy', 'review']);

    vscode.ui.queue.message.push('Remove');
    await vscode.commands.executeCommand('claudemesh.removeSkill', deploy.element);
    assert.deepEqual((await bob.listSkills()).map((s) => s.name), ['review']);
    assert.deepEqual(labels(await vscode.readTree('claudemesh.skills')), ['review']);
  });

  it('says how large a skill or memory is and what the broker takes when it is over the frame limit', async () => {
    vscode.setActiveEditor(new vscode.FakeTextDocument(vscode.Uri.file(path.join(dir, 'huge', 'SKILL.md')), '---\ndescription: Too big\n---\n' + 'x'.repeat(70_000)));
    vscode.ui.queue.inputBox.push((o) => o.value as string, (o) => o.value as string, 'huge');
    await vscode.commands.executeCommand('claudemesh.shareSkill');
    assert.ok(vscode.ui.messages.some((m) => m.severity === 'error' && /skill is too large for the broker: 6[89] KiB .* at most 64 KiB/.test(m.message)), 'the size and the limit are shown');
    vscode.ui.queue.inputBox.push('y'.repeat(70_000), '');
    await vscode.commands.executeCommand('claudemesh.remember');
    assert.ok(vscode.ui.messages.some((m) => m.severity === 'error' && /memory is too large for the broker/.test(m.message)));
    assert.equal(mine().state.kind, 'connected', 'the connection is untouched');
  });

  it('remembers, recalls into the Memories view and forgets', async () => {
    vscode.ui.queue.inputBox.push('The staging database listens on port 5433', 'infra, db');
    await vscode.commands.executeCommand('claudemesh.remember');
    assert.deepEqual(
      (await vscode.readTree('claudemesh.memories')).map((n) => n.label),
      ['The staging database listens on port 5433'],
      'what you just remembered shows before any Recall',
    );
    vscode.ui.queue.inputBox.push('staging database');
    vscode.ui.queue.quickPick.push((items) => items[0], 'Copy');
    await vscode.commands.executeCommand('claudemesh.recall');
    assert.equal(vscode.env.clipboard.text, 'The staging database listens on port 5433');
    const [memory] = await vscode.readTree('claudemesh.memories');
    assert.deepEqual([memory.label, memory.description], ['The staging database listens on port 5433', 'infra, db']);

    vscode.ui.queue.message.push('Forget');
    await vscode.commands.executeCommand('claudemesh.forget', memory.element);
    assert.deepEqual(await vscode.readTree('claudemesh.memories'), []);
    assert.deepEqual(await bob.recall('staging database'), []);
  });

  describe('Join Mesh from Invite Link', () => {
    let opsMeshId: string;
    const joined = () => context.globalState.get<unknown[]>('claudemesh.joinedMeshes');
    const memberSecrets = () => [...context.secrets.map.keys()].filter((k) => k.startsWith('claudemesh.memberSecret/'));

    before(() => {
      opsMeshId = fx.broker.addMesh({ slug: 'ops' }).meshId;
    });

    it('refuses a malformed link in the input box, before anything is sent', async () => {
      vscode.ui.queue.inputBox.push('definitely not a link');
      await vscode.commands.executeCommand('claudemesh.joinMesh');
      assert.match(vscode.ui.rejectedInputs.pop()?.reason ?? '', /doesn't look like a claudemesh invite/);
      assert.equal(joined(), undefined);
    });

    it('refuses a forged invite and an expired one with one message each, and stores nothing', async () => {
      const { token } = fx.broker.createInvite(opsMeshId);
      const payload = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
      const forged = Buffer.from(JSON.stringify({ ...payload, role: 'admin' }), 'utf8').toString('base64url');
      const expired = fx.broker.createInvite(opsMeshId, { expiresAt: Math.floor(Date.now() / 1000) - 60 }).token;
      const before = vscode.ui.messages.length;
      for (const bad of [forged, expired]) {
        vscode.ui.queue.inputBox.push(`ic://join/${bad}`);
        await vscode.commands.executeCommand('claudemesh.joinMesh');
      }
      const shown = vscode.ui.messages.slice(before);
      assert.deepEqual(shown.map((m) => m.severity), ['error', 'error']);
      assert.match(shown[0].message, /signature/i);
      assert.match(shown[1].message, /expired/i);
      assert.equal(joined(), undefined);
      assert.deepEqual(memberSecrets(), []);
      assert.equal(running.app.ctx.clients.length, 1);
    });

    it('joins through a short-code link, keeps the secret in secret storage and connects the new mesh', async () => {
      const { code } = fx.broker.createInvite(opsMeshId);
      vscode.ui.queue.inputBox.push(`${fx.broker.httpUrl}/i/${code}`);
      await vscode.commands.executeCommand('claudemesh.joinMesh');
      const ops = running.app.ctx.client(opsMeshId);
      assert.ok(ops, 'a client for the joined mesh');
      await vscode.until(() => ops.state.kind === 'connected', 'the joined mesh to connect');
      const saved = joined() as Record<string, unknown>[];
      assert.deepEqual(saved.map((m) => [m.slug, 'secretKey' in m]), [['ops', false]]);
      assert.deepEqual(memberSecrets(), [`claudemesh.memberSecret/${opsMeshId}/${ops.mesh.pubkey}`]);
      assert.ok(vscode.ui.progress.some((p) => p.message?.startsWith('Asking the broker to enrol you in mesh "ops"')), 'progress was shown');
      assert.ok(vscode.ui.progress.some((p) => /signature \(it shows the link is intact; the broker's answer decides membership\)/.test(p.message ?? '')));
      assert.match(vscode.ui.messages[vscode.ui.messages.length - 1].message, /joined mesh "ops": the broker accepted you as a member/);
      await vscode.until(async () => (await vscode.readTree('claudemesh.peers'))[1]?.children.length > 0, 'our own row in the ops mesh');
      const tree = await vscode.readTree('claudemesh.peers');
      assert.deepEqual(labels(tree), ['test-mesh', 'ops']);
      assert.deepEqual(labels(tree[1].children), ['me (you)']);
    });

    it('refuses to join a mesh again, from the CLI config or from VS Code, naming where it is joined', async () => {
      const before = vscode.ui.messages.length;
      for (const meshId of [me.mesh.meshId, opsMeshId]) {
        vscode.ui.queue.inputBox.push(`${fx.broker.httpUrl}/i/${fx.broker.createInvite(meshId).code}`);
        await vscode.commands.executeCommand('claudemesh.joinMesh');
      }
      const [fromCli, fromVsCode] = vscode.ui.messages.slice(before);
      assert.match(fromCli.message, /already joined the mesh "test-mesh" \(it is in the claudemesh config, .*config\.json\)/);
      assert.match(fromVsCode.message, /already joined the mesh "ops" \(it was joined in VS Code\)/);
      assert.equal((joined() as unknown[]).length, 1, 'nothing new saved');
      assert.equal(memberSecrets().length, 1);
    });
  });

  // Mocha runs a suite's own tests before its nested suites: this one sits in a suite of its own to run last.
  describe('at the end of the session', () => {
    it('leaves no secret key in workspace state, global state, settings or the log, and no message body above debug', async () => {
      const secrets = context.secrets.map;
      const sessionSecrets = [...secrets].filter(([k]) => k.startsWith('claudemesh.sessionSecret/')).map(([, v]) => v);
      assert.equal(sessionSecrets.length, 2, 'one session key per mesh, in secret storage');
      const keys = [me.mesh.secretKey, ...secrets.values()];
      const historyDir = path.join(context.storageUri.fsPath, 'history');
      const haystacks = {
        workspaceState: context.workspaceState.dump(),
        history: fs.readdirSync(historyDir).map((name) => fs.readFileSync(path.join(historyDir, name), 'utf8')).join('\n'),
        globalState: context.globalState.dump(),
        settings: vscode.workspace.dumpSettings(),
        log: vscode.outputChannels.flatMap((c) => c.lines).join('\n'),
      };
      // The scan is only worth something if the session really wrote there.
      assert.match(haystacks.history, /hello bob 41c2/, 'the sent message is in the history log');
      assert.match(haystacks.globalState, /claudemesh\.joinedMeshes/);
      assert.ok(haystacks.log.length > 0);
      for (const secretKey of keys) {
        const seed = secretKey.slice(0, 64);
        const forms = [seed, seed.toUpperCase(), Buffer.from(seed, 'hex').toString('base64'), Buffer.from(secretKey, 'hex').toString('base64')];
        for (const [where, text] of Object.entries(haystacks)) {
          for (const form of forms) assert.ok(!text.includes(form), `a secret key (${seed.slice(0, 6)}…) appears in ${where}`);
        }
      }
      const loud = vscode.outputChannels.flatMap((c) => c.lines).filter((l) => /^\[(info|warning|error)\]/.test(l));
      for (const body of ['hello bob 41c2', 'ping 5b7a', 'pong 9d1e', 'staging database']) {
        assert.ok(!loud.some((l) => l.includes(body)), `"${body}" was logged at info level or above`);
      }
    });
  });
});
