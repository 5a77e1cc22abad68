/**
 * The views, status bar, notifications and commands over scripted clients: the states that a live broker reaches
 * only by accident (countdowns, terminal errors, failed rows) and the rules about untrusted text.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from '../support/fakeVscode';
import { ConversationNode, OutgoingNode } from '../../src/views/conversations/tree';
import { Conversations, howItTravels } from '../../src/views/conversations/model';
import { Notifications } from '../../src/views/conversations/notifications';
import { parseStateValue, stateValueText } from '../../src/views/state/commands';
import { memberLabel, when } from '../../src/views/shared/text';
import { ActivityLog } from '../../src/views/activityLog';
import { WALKTHROUGH } from '../../src/views/walkthrough';
import type { OutboxRow } from '../../src/broker/types';
import type { MeshClientOptions } from '../../src/broker/client';
import { Ctx } from '../../src/views/shared/ctx';
import { chatHtml, FakeMeshClient, fakePeer, FakeRun, frontChat, hexKey, makeMesh, scratchWorkspace, useConfig } from './harness';

const root = path.resolve(__dirname, '../../..');
const alice = fakePeer({ pubkey: hexKey('a1'), displayName: 'alice', summary: 'fixing the build', hostname: 'alice-laptop', groups: [{ name: 'devs' }] });

function statusItem(): vscode.FakeStatusBarItem {
  const item = vscode.statusBarItems.find((i) => i.id === 'claudemesh.status' && !i.disposed);
  assert.ok(item, 'the status bar item exists');
  return item;
}

function tooltipOf(item: vscode.FakeStatusBarItem): vscode.MarkdownString {
  assert.ok(item.tooltip instanceof vscode.MarkdownString, 'the tooltip is Markdown');
  return item.tooltip;
}

describe('views, status bar and commands over scripted clients', () => {
  let run: FakeRun | undefined;

  const scratch = scratchWorkspace();

  async function startOne(slug = 'team'): Promise<{ run: FakeRun; client: ReturnType<FakeRun['client']> }> {
    await useConfig(scratch.dir, [makeMesh(slug)]);
    run = await scratch.start(root);
    const client = run.client(slug);
    client.setConnection({ kind: 'connected', presenceId: 'p1', displayName: 'me' });
    return { run, client };
  }

  describe('Peers', () => {
    it('re-reads the peer list of the connected mesh on Refresh Peers', async () => {
      const { client } = await startOne();
      const before = client.calls.filter((c) => c.method === 'listPeers').length;
      await vscode.commands.executeCommand('claudemesh.refreshPeers');
      assert.equal(client.calls.filter((c) => c.method === 'listPeers').length, before + 1);
    });

    it("lists peers with their summary, marks the user's own row and hides control-plane rows", async () => {
      const { client } = await startOne();
      const daemon = fakePeer({ pubkey: hexKey('d0'), memberPubkey: alice.memberPubkey, displayName: 'alice', peerRole: 'control-plane' });
      client.setPeers([fakePeer({ pubkey: client.sessionPubkey, displayName: 'me' }), alice, daemon]);
      const tree = await vscode.readTree('claudemesh.peers');
      assert.deepEqual(tree.map((n) => n.label), ['me (you)', 'alice']);
      assert.equal(tree[1].description, 'fixing the build');
      assert.equal(tree[1].contextValue, 'peer');
      assert.equal(tree[0].contextValue, 'peer.self');
      assert.match(tree[1].tooltip ?? '', /Groups: @devs/);
      assert.match(tree[1].tooltip ?? '', /Host: alice-laptop/);
      assert.equal(vscode.treeViews.get('claudemesh.peers')?.description, '1 peer');
    });

    it('groups the sessions of one member under that member', async () => {
      const { client } = await startOne();
      const member = hexKey('b0');
      client.setPeers([
        fakePeer({ pubkey: hexKey('b1'), memberPubkey: member, displayName: 'bob', hostname: 'one' }),
        fakePeer({ pubkey: hexKey('b2'), memberPubkey: member, displayName: 'bob', hostname: 'two' }),
      ]);
      const [bob] = await vscode.readTree('claudemesh.peers');
      assert.equal(bob.label, 'bob');
      assert.equal(bob.description, '2 sessions');
      assert.deepEqual(bob.children.map((c) => c.description), ['one', 'two']);
    });

    it("marks this member's other sessions as the user's other windows or CLI sessions", async () => {
      const { client } = await startOne();
      const mine = { memberPubkey: client.mesh.pubkey };
      client.setPeers([
        fakePeer({ pubkey: client.sessionPubkey, displayName: 'me', ...mine, channel: 'claudemesh-vscode' }),
        fakePeer({ pubkey: hexKey('e1'), displayName: 'me', ...mine, channel: 'claudemesh-vscode' }),
        fakePeer({ pubkey: hexKey('e2'), displayName: 'me', ...mine, channel: 'claude-code' }),
        alice,
      ]);
      const [member] = await vscode.readTree('claudemesh.peers');
      assert.equal(member.label, 'me (you)');
      const sessions = member.children;
      assert.deepEqual(sessions.map((n) => n.label).sort(), ['me (you · CLI)', 'me (you · other window)', 'me (you)']);
    });

    it('keeps the last known peers while reconnecting, and every view says the same about it', async () => {
      const { client } = await startOne();
      client.setPeers([alice]);
      client.stateEntries.set('build', { key: 'build', value: 'green', updatedBy: 'bob', updatedAt: '' });
      await vscode.readTree('claudemesh.state');
      await vscode.commands.executeCommand('claudemesh.refreshState');
      client.memories = [{ id: 'm1', content: 'the demo forgets', tags: [], rememberedBy: 'bob', rememberedAt: '' }];
      vscode.ui.queue.inputBox.push('demo');
      await vscode.commands.executeCommand('claudemesh.recall');
      client.setConnection({ kind: 'reconnecting', attempt: 2, retryAt: Date.now() + 4000, lastError: 'socket hang up' });
      assert.deepEqual((await vscode.readTree('claudemesh.peers')).map((n) => n.label), ['alice']);
      assert.deepEqual((await vscode.readTree('claudemesh.state')).map((n) => n.label), ['build']);
      const note = 'team: reconnecting (socket hang up). Showing what was last seen.';
      assert.equal(vscode.treeViews.get('claudemesh.peers')?.message, note);
      assert.equal(vscode.treeViews.get('claudemesh.state')?.message, note);
      assert.equal(vscode.treeViews.get('claudemesh.skills')?.message, 'team: reconnecting (socket hang up).', 'nothing known: the Connecting welcome shows');
      assert.equal(vscode.treeViews.get('claudemesh.memories')?.message, note, 'the last recall stays, marked');
      assert.deepEqual((await vscode.readTree('claudemesh.memories')).map((n) => n.label), ['the demo forgets']);
      client.setConnection({ kind: 'connected', presenceId: 'p2', displayName: 'me' });
      assert.equal(vscode.treeViews.get('claudemesh.peers')?.message, undefined);
    });

    it('says once, with Reconnect Now, that a command needs the broker while the mesh is reconnecting', async () => {
      const { client } = await startOne();
      client.setConnection({ kind: 'reconnecting', attempt: 2, retryAt: Date.now() + 4000, lastError: 'socket hang up' });
      let answer: (choice: string) => void = () => undefined;
      vscode.ui.onMessage = () => new Promise<string>((resolve) => (answer = resolve));
      const first = vscode.commands.executeCommand('claudemesh.recall');
      const second = vscode.commands.executeCommand('claudemesh.setState');
      await vscode.until(() => vscode.ui.messages.length > 0, 'the warning');
      answer('Reconnect Now');
      await Promise.all([first, second]);
      assert.deepEqual(vscode.ui.messages.map((m) => [m.message, m.items]), [
        ['Claudemesh is still connecting to team (socket hang up); this needs the broker. Try again once connected.', ['Reconnect Now']],
      ]);
      assert.ok(client.calls.some((c) => c.method === 'reconnect'));
    });

    it('shows nothing after Disconnect, so the Connect welcome appears', async () => {
      const { client } = await startOne();
      client.setPeers([alice]);
      client.setConnection({ kind: 'disconnected' });
      assert.deepEqual(await vscode.readTree('claudemesh.peers'), []);
      assert.equal(vscode.contextKeys.get('claudemesh.connected'), false);
      assert.equal(vscode.contextKeys.get('claudemesh.hasMeshes'), true);
    });

    it('asks which mesh once, then uses that one until the user picks another default', async () => {
      await useConfig(scratch.dir, [makeMesh('team'), makeMesh('ops')]);
      run = await scratch.start(root);
      for (const slug of ['team', 'ops']) run.client(slug).setConnection({ kind: 'connected', presenceId: 'p', displayName: 'me' });
      vscode.ui.queue.quickPick.push('ops');
      await vscode.commands.executeCommand('claudemesh.refreshSkills');
      await vscode.commands.executeCommand('claudemesh.refreshSkills');
      assert.equal(vscode.ui.quickPicks.length, 1, 'the second command did not ask');
      assert.match(tooltipOf(statusItem()).value, /Default mesh: \*\*ops\*\*/);
      vscode.ui.queue.quickPick.push('team');
      await vscode.commands.executeCommand('claudemesh.chooseDefaultMesh');
      vscode.ui.queue.inputBox.push('build', 'green');
      await vscode.commands.executeCommand('claudemesh.setState');
      assert.deepEqual(run.client('team').calls.find((c) => c.method === 'setState')?.args, ['build', 'green']);
    });

    it('groups every view by mesh when more than one mesh is joined', async () => {
      await useConfig(scratch.dir, [makeMesh('team'), makeMesh('ops')]);
      run = await scratch.start(root);
      run.client('team').setConnection({ kind: 'connected', presenceId: 'p', displayName: 'me' });
      run.client('team').setPeers([alice]);
      const tree = await vscode.readTree('claudemesh.peers');
      assert.deepEqual(tree.map((n) => [n.label, n.description]), [['team', 'connected'], ['ops', 'connecting…']]);
      assert.deepEqual(tree[0].children.map((n) => n.label), ['alice']);
    });
  });

  describe('status bar', () => {
    it('counts the other peers when connected and opens the Peers view on click', async () => {
      const { client } = await startOne();
      client.setPeers([fakePeer({ pubkey: client.sessionPubkey, displayName: 'me' }), alice, fakePeer({ pubkey: hexKey('c1'), displayName: 'carol' })]);
      assert.equal(statusItem().text, '$(broadcast) team · 2 peers');
      assert.equal(statusItem().command, 'claudemesh.openPeers');
      await vscode.commands.executeCommand(statusItem().command as string);
      assert.ok(vscode.commandsRun.some((c) => c.id === 'claudemesh.peers.focus'));
    });

    it('shows connecting, not "0 peers", until the first peer list of a connection arrives', async () => {
      const { client } = await startOne();
      client.peersListed = false;
      client.setConnection({ kind: 'connected', presenceId: 'p2', displayName: 'me' });
      assert.equal(statusItem().text, '$(sync~spin) team connecting…');
      client.setPeers([alice]);
      assert.equal(statusItem().text, '$(broadcast) team · 1 peer');
    });

    it('keeps do not disturb and hidden in sight, in the status bar and on your own Peers row', async () => {
      const { client } = await startOne();
      client.setPeers([fakePeer({ pubkey: client.sessionPubkey, displayName: 'me', status: 'dnd', visible: false }), alice]);
      assert.equal(statusItem().text, '$(broadcast) team · 1 peer  $(circle-slash) dnd  $(eye-closed) hidden');
      const [me] = await vscode.readTree('claudemesh.peers');
      assert.equal(me.description, '(do not disturb, hidden)');
    });

    it('shows a spinner while connecting and a countdown while waiting to reconnect', async () => {
      const { client } = await startOne();
      client.setConnection({ kind: 'connecting', attempt: 1 });
      assert.equal(statusItem().text, '$(sync~spin) team connecting…');
      client.setConnection({ kind: 'reconnecting', attempt: 2, retryAt: Date.now() + 60_000, lastError: 'socket hang up' });
      const seconds = Number(/reconnecting in (\d+) s/.exec(statusItem().text)?.[1]);
      assert.ok(seconds > 0 && seconds <= 60, statusItem().text);
      assert.match(tooltipOf(statusItem()).value, /Last error: socket hang up/);
      client.setConnection({ kind: 'disconnected' });
      assert.equal(statusItem().text, '$(debug-disconnect) team offline');
    });

    it('turns to a warning with the reason in the tooltip when the connection fails for good', async () => {
      const { client } = await startOne();
      client.setConnection({ kind: 'failed', code: 'revoked', reason: 'You were removed from "team".' });
      assert.equal(statusItem().text, '$(warning) team');
      assert.equal((statusItem().backgroundColor as vscode.ThemeColor).id, 'statusBarItem.warningBackground');
      assert.match(tooltipOf(statusItem()).value, /Last error: You were removed from \\"team\\"\\\./);
    });

    it('adds unread and queued counts', async () => {
      const { client } = await startOne();
      client.setPeers([]);
      client.receive({ senderPubkey: alice.pubkey, text: 'hello' });
      await client.send(alice.pubkey, 'hi', { label: 'alice' });
      assert.equal(statusItem().text, '$(broadcast) team · 0 peers  $(mail) 1  $(clock) 1');
    });

    it('trusts only its own command links and escapes everything that came from outside', async () => {
      const { client } = await startOne();
      const hostile = 'x](command:workbench.action.terminal.new) <img src=x> [y](https://evil)';
      client.setConnection({ kind: 'connected', presenceId: 'p', displayName: hostile });
      client.setConnection({ kind: 'reconnecting', attempt: 1, retryAt: Date.now() + 5000, lastError: hostile });
      const tooltip = tooltipOf(statusItem());
      assert.equal(tooltip.supportHtml, false);
      const trusted = tooltip.isTrusted as { enabledCommands: string[] };
      assert.ok(trusted.enabledCommands.every((id) => id.startsWith('claudemesh.')));
      const links = [...tooltip.value.matchAll(/(?<!\\)\]\((?:command:)?([^)]*)\)/g)].map((m) => m[1]);
      assert.deepEqual(links, ['claudemesh.reconnect', 'claudemesh.showLogs', 'claudemesh.openPeers']);
      assert.doesNotMatch(tooltip.value, /(?<!\\)</, 'no raw HTML');
    });
  });

  describe('notifications', () => {
    it("raises a notification with Reply and Open for a direct message; Reply opens alice's panel and sends the answer", async () => {
      const { client } = await startOne();
      client.setPeers([alice]);
      vscode.ui.onMessage = (m) => (m.message.startsWith('alice:') ? 'Reply' : undefined);
      client.receive({ senderPubkey: alice.pubkey, text: 'can you look at the build?' });
      await vscode.until(() => vscode.webviewPanels.length === 1, "alice's chat panel to open");
      frontChat().webview.fromPage({ type: 'send', text: 'on it', priority: 'next' });
      await vscode.until(() => client.calls.some((c) => c.method === 'send'), 'the reply to be sent');
      const toast = vscode.ui.messages.find((m) => m.message.startsWith('alice:'));
      assert.deepEqual(toast && [toast.message, toast.items], ['alice: can you look at the build?', ['Reply', 'Open']]);
      assert.deepEqual(client.calls.find((c) => c.method === 'send')?.args.slice(0, 2), [alice.pubkey, 'on it']);
    });

    it('shows a burst of messages in one conversation as two toasts: the first at once, the rest together', async () => {
      await useConfig(scratch.dir, [makeMesh('team')]);
      run = await scratch.start(root, undefined, { notificationQuietMs: 150 });
      const client = run.client('team');
      client.setConnection({ kind: 'connected', presenceId: 'p1', displayName: 'me' });
      client.setPeers([alice]);
      for (let i = 1; i <= 5; i++) client.receive({ senderPubkey: alice.pubkey, text: `m${i}` });
      client.receive({ senderPubkey: hexKey('b2'), senderName: 'bob', kind: 'multicast', text: 'to all' });
      await vscode.until(() => vscode.ui.messages.length === 3, 'the held messages to be shown');
      assert.deepEqual(vscode.ui.messages.map((m) => m.message), [
        'alice: m1',
        'bob (to everyone or a group): to all',
        '4 new messages from alice, the latest: m5',
      ]);
    });

    it('forgets a conversation\'s quiet window once it has passed, so the toast bookkeeping does not grow with every peer', async () => {
      const { run: started, client } = await startOne();
      const bob = fakePeer({ pubkey: hexKey('b2'), displayName: 'bob' });
      client.setPeers([alice, bob]);
      const notifications = new Notifications(started.running.app.ctx, started.running.app.conversations, 20);
      try {
        client.receive({ senderPubkey: alice.pubkey, text: 'one' });
        await vscode.until(() => notifications.quietConversations === 1, 'alice\'s toast');
        await new Promise((resolve) => setTimeout(resolve, 40));
        client.receive({ senderPubkey: bob.pubkey, text: 'two' });
        await vscode.until(() => vscode.ui.messages.some((m) => m.message === 'bob: two'), 'bob\'s toast');
        assert.equal(notifications.quietConversations, 1, 'only bob\'s window: alice\'s ended');
      } finally {
        notifications.dispose();
      }
    });

    it('marks every conversation read with Mark All Read', async () => {
      const { client } = await startOne();
      client.setPeers([alice]);
      await vscode.workspace.getConfiguration('claudemesh').update('notifications', 'off');
      client.receive({ senderPubkey: alice.pubkey, text: 'one' });
      client.receive({ senderPubkey: hexKey('b2'), senderName: 'bob', kind: 'multicast', text: 'two' });
      assert.match(statusItem().text, /\$\(mail\) 2/);
      await vscode.commands.executeCommand('claudemesh.markAllRead');
      assert.doesNotMatch(statusItem().text, /\$\(mail\)/);
    });

    it('follows claudemesh.notifications: "direct" skips group messages, "off" skips everything', async () => {
      const { client } = await startOne();
      await vscode.workspace.getConfiguration('claudemesh').update('notifications', 'direct');
      client.receive({ senderPubkey: alice.pubkey, senderName: 'alice', kind: 'multicast', text: 'to all' });
      client.receive({ senderPubkey: alice.pubkey, text: 'to you' });
      await vscode.until(() => vscode.ui.messages.length > 0, 'a notification');
      assert.deepEqual(vscode.ui.messages.map((m) => m.message), [`${alice.pubkey.slice(0, 8)}…: to you`]);
      await vscode.workspace.getConfiguration('claudemesh').update('notifications', 'off');
      client.receive({ senderPubkey: alice.pubkey, text: 'again' });
      assert.equal(vscode.ui.messages.length, 1);
    });

    it('announces peers joining and leaving only when presence notifications are on', async () => {
      const { client } = await startOne();
      client.presence({ event: 'peer_joined', name: 'carol', pubkey: hexKey('c1'), data: {} });
      assert.equal(vscode.ui.messages.length, 0, 'off by default');
      await vscode.workspace.getConfiguration('claudemesh').update('presenceNotifications', true);
      client.presence({ event: 'peer_joined', name: 'carol', pubkey: hexKey('c1'), data: {} });
      client.presence({ event: 'peer_left', name: 'carol', pubkey: hexKey('c1'), data: {} });
      client.presence({ event: 'peer_joined', name: 'me', pubkey: client.sessionPubkey, data: {} });
      assert.deepEqual(vscode.ui.messages.map((m) => m.message), ['carol joined team.', 'carol left team.']);
    });

    it('opens the conversation from the notification, and says nothing for a conversation already open', async () => {
      const { client } = await startOne();
      client.setPeers([alice]);
      vscode.ui.queue.message.push('Open');
      client.receive({ senderPubkey: alice.pubkey, text: 'look' });
      await vscode.until(() => vscode.webviewPanels.length === 1, 'the conversation to open');
      assert.match(chatHtml(frontChat()), /<p>look<\/p>/);
      client.receive({ senderPubkey: alice.pubkey, text: 'while you read' });
      assert.equal(vscode.ui.messages.length, 1, 'no second toast');
      await vscode.until(async () => (await vscode.readTree('claudemesh.messages'))[0].description === 'while you read', 'the new message to show');
      assert.equal(vscode.treeViews.get('claudemesh.messages')?.badge, undefined, 'it counts as read');
    });

    it('never lets a peer plant a link in a notification', async () => {
      const { client } = await startOne();
      client.setPeers([{ ...alice, displayName: '[Open](command:claudemesh.disconnect)' }]);
      client.receive({ senderPubkey: alice.pubkey, text: 'see [docs](https://evil.example) and [run](command:workbench.action.terminal.new)', priority: 'now' });
      await vscode.until(() => vscode.ui.messages.length > 0, 'a notification');
      const [toast] = vscode.ui.messages;
      assert.doesNotMatch(toast.message, /\]\(/);
      assert.equal(toast.severity, 'warning', 'a "now" message is a warning');
    });
  });

  describe('Messages', () => {
    it('lists a conversation per peer with its unread count, and opening it shows the history and marks it read', async () => {
      const { run, client } = await startOne();
      client.setPeers([alice]);
      client.receive({ senderPubkey: alice.pubkey, text: 'first\nsecond line' });
      client.receive({ senderPubkey: alice.pubkey, senderName: 'alice', kind: 'multicast', text: 'to everyone' });
      let tree = await vscode.readTree('claudemesh.messages');
      assert.deepEqual(tree.map((n) => [n.label, n.description?.split(' · ')[0]]).sort(), [['Everyone', '1 unread'], ['alice', '1 unread']]);
      assert.deepEqual(vscode.treeViews.get('claudemesh.messages')?.badge, { value: 2, tooltip: '2 unread messages' });

      const conversation = tree.find((n) => n.label === 'alice')!;
      await vscode.commands.executeCommand(conversation.command!, conversation.element);
      const chat = frontChat();
      assert.equal(chat.title, 'alice');
      assert.match(chatHtml(chat), /<span class="from">alice<\/span>.*<p>first<br>\nsecond line<\/p>/s);
      tree = await vscode.readTree('claudemesh.messages');
      assert.equal(tree.find((n) => n.label === 'alice')?.description?.includes('unread'), false);
      assert.deepEqual(vscode.treeViews.get('claudemesh.messages')?.badge, { value: 1, tooltip: '1 unread message' });
      assert.ok(run.context.workspaceState.keys().some((k) => k.startsWith('claudemesh.readMarkers/')));
    });

    it('keeps its conversations as messages arrive exactly as a rebuild from the whole history would', async () => {
      const { run, client } = await startOne();
      const bob = fakePeer({ pubkey: hexKey('b0'), displayName: 'bob' });
      client.setPeers([alice, bob]);
      const live = run.running.app.conversations;
      for (let i = 0; i < 60; i++) {
        const from = [alice, bob, alice][i % 3];
        client.receive({ senderPubkey: from.pubkey, text: `m${i}`, receivedAt: 1_000 + i, ...(i % 7 === 0 ? { kind: 'multicast', senderName: 'x' } : {}) });
        if (i === 30) await live.markRead(client, alice.pubkey);
        live.list(client);
      }
      const rebuilt = new Conversations(run.running.app.ctx);
      const shape = (c: Conversations) => c.list(client).map((v) => [v.key, v.label, v.unread, v.lastAt, v.entries.map((e) => e.text).join()]);
      assert.deepEqual(shape(live), shape(rebuilt));
      assert.equal(live.unreadTotal(), rebuilt.unreadTotal());
      rebuilt.dispose();
    });

    it('redraws only the row of the conversation on top when it gets another message, and the whole list when the order changes', async () => {
      const { client } = await startOne();
      const bob = fakePeer({ pubkey: hexKey('b0'), displayName: 'bob' });
      client.setPeers([alice, bob]);
      client.receive({ senderPubkey: alice.pubkey, text: 'one' });
      const view = vscode.treeViews.get('claudemesh.messages')!;
      const fired: unknown[] = [];
      view.treeDataProvider.onDidChangeTreeData!((element) => fired.push(element));
      await vscode.readTree('claudemesh.messages');
      client.receive({ senderPubkey: alice.pubkey, text: 'two' });
      assert.equal(fired.length, 1);
      assert.equal((fired[0] as ConversationNode).conversation.key, alice.pubkey, 'only alice’s row');
      const [row] = await vscode.readTree('claudemesh.messages');
      assert.match(row.description ?? '', /^2 unread · two/);
      client.receive({ senderPubkey: bob.pubkey, text: 'bob now on top' });
      assert.equal(fired[1], undefined, 'the whole tree');
      assert.deepEqual((await vscode.readTree('claudemesh.messages')).map((n) => n.label), ['bob', 'alice']);
    });

    it('draws a conversation\'s row and its waiting messages without going through its history', async () => {
      const { run, client } = await startOne();
      client.setPeers([alice]);
      for (let i = 0; i < 50; i++) client.receive({ senderPubkey: alice.pubkey, text: `m${i}`, receivedAt: 1_000 + i });
      await client.send(alice.pubkey, 'queued one', { label: 'alice' });
      const conversation = run.running.app.conversations.get(client, alice.pubkey)!;
      let reads = 0;
      conversation.entries = new Proxy(conversation.entries, { get: (entries, field) => (typeof field === 'string' && /^\d+$/.test(field) && reads++, Reflect.get(entries, field)) });
      client.receive({ senderPubkey: alice.pubkey, text: 'hello' });
      reads = 0;
      const [row] = await vscode.readTree('claudemesh.messages');
      assert.deepEqual([row.description, row.children.map((c) => c.label)], ['51 unread · hello', ['queued one']]);
      assert.ok(reads <= 2, `${reads} entries read to draw the row`);
    });

    it('updates the status bar on a message from counts: the outbox is not read', async () => {
      const { client } = await startOne();
      client.setPeers([alice]);
      await client.send(alice.pubkey, 'queued one', { label: 'alice' });
      let reads = 0;
      const rows = client.outbox;
      Object.defineProperty(client, 'outbox', { get: () => (reads++, rows), configurable: true });
      client.receive({ senderPubkey: alice.pubkey, text: 'hello' });
      const item = vscode.statusBarItems.find((i) => i.name === 'Claudemesh')!;
      assert.match(item.text, /\$\(mail\) 1 {2}\$\(clock\) 1/);
      assert.equal(reads, 0);
    });

    it('shows failed outgoing messages with Retry and Discard', async () => {
      const { client } = await startOne();
      const row = await client.send(alice.pubkey, 'did it work?', { label: 'alice' });
      client.setOutbox([{ ...row, status: 'failed', lastError: 'blocked by recipient grants (sender lacks dm capability)' }]);
      const [conversation] = await vscode.readTree('claudemesh.messages');
      const [failed] = conversation.children;
      assert.equal(failed.contextValue, 'outgoing.failed');
      assert.match(failed.tooltip ?? '', /blocked by recipient grants/);
      assert.ok(failed.element instanceof OutgoingNode);
      await vscode.commands.executeCommand('claudemesh.retryMessage', failed.element);
      assert.deepEqual(client.calls.filter((c) => c.method === 'retry').map((c) => c.args), [[row.clientMessageId]]);
      await vscode.commands.executeCommand('claudemesh.discardMessage', failed.element);
      assert.equal(client.outbox.length, 0);
    });

    it('shows a DM that was not delivered with who it was for, and sends it to another session picked by where it runs', async () => {
      const { client } = await startOne();
      const member = hexKey('9');
      const gone = fakePeer({ pubkey: hexKey('5'), memberPubkey: member, displayName: 'carol', cwd: '/api' });
      const other = fakePeer({ pubkey: hexKey('6'), memberPubkey: member, displayName: 'carol', cwd: '/web', hostname: 'laptop' });
      client.setPeers([other]);
      const row = await client.send(gone.pubkey, 'ping', { label: 'carol' });
      const reason = 'The session of carol (/api) it was for left before taking it.';
      client.setOutbox([{ ...row, status: 'not_delivered', notDeliveredReason: reason, recipient: { pubkey: gone.pubkey, memberPubkey: member, name: 'carol', cwd: '/api' } }]);
      const [conversation] = await vscode.readTree('claudemesh.messages');
      const [lost] = conversation.children;
      assert.deepEqual([lost.contextValue, lost.description], ['outgoing.not_delivered', 'not delivered']);
      assert.match(String(lost.tooltip), /carol \(\/api\) it was for left/);
      vscode.ui.queue.quickPick.push((items) => items[0]);
      await vscode.commands.executeCommand('claudemesh.sendToAnotherSession', lost.element);
      assert.deepEqual(vscode.ui.quickPicks[0].items.map((i) => [i.label, i.description]), [['carol', 'laptop:/web']]);
      assert.deepEqual(client.calls.filter((c) => c.method === 'resendTo').map((c) => c.args), [[row.clientMessageId, other.pubkey]]);
    });

    it('offers Retry and Discard for a broadcast that may not have been sent', async () => {
      const { client } = await startOne();
      const row = await client.send('*', 'all hands');
      client.setOutbox([{ ...row, status: 'unknown', lastError: 'The connection dropped before the broker confirmed this message: it may not have been sent.' }]);
      const [conversation] = await vscode.readTree('claudemesh.messages');
      const [unsure] = conversation.children;
      assert.deepEqual([unsure.contextValue, unsure.description], ['outgoing.unknown', 'may not have been sent']);
      await vscode.commands.executeCommand('claudemesh.retryMessage', unsure.element);
      assert.deepEqual(client.calls.filter((c) => c.method === 'retry').map((c) => c.args), [[row.clientMessageId]]);
    });

    it('discards every failed message at once', async () => {
      const { client } = await startOne();
      const a = await client.send(alice.pubkey, 'a', { label: 'alice' });
      const b = await client.send(alice.pubkey, 'b', { label: 'alice' });
      client.setOutbox([{ ...a, status: 'failed' }, { ...b, status: 'failed' }, { ...b, clientMessageId: 'kept', status: 'queued' }]);
      await vscode.commands.executeCommand('claudemesh.discardFailed');
      assert.deepEqual(client.outbox.map((r) => r.clientMessageId), ['kept']);
      assert.ok(vscode.ui.messages.some((m) => m.message === 'Claudemesh: discarded 2 failed messages.'));
    });
  });

  describe('commands', () => {
    it("opens the chat panel of a peer picked by name, whose composer sends with the chosen priority", async () => {
      const { client } = await startOne();
      client.setPeers([fakePeer({ pubkey: client.sessionPubkey, displayName: 'me' }), alice]);
      vscode.ui.queue.quickPick.push('alice');
      await vscode.commands.executeCommand('claudemesh.sendMessage');
      frontChat().webview.fromPage({ type: 'send', text: 'ship it', priority: 'now' });
      await vscode.until(() => client.calls.some((c) => c.method === 'send'), 'the message to be sent');
      assert.deepEqual(client.calls.find((c) => c.method === 'send')?.args, [alice.pubkey, 'ship it', { priority: 'now', label: 'alice' }]);
      const targets = vscode.ui.quickPicks[0].items.filter((i) => i.kind !== vscode.QuickPickItemKind.Separator).map((i) => i.label);
      assert.deepEqual(targets, ['alice', '@devs', '*'], 'peers except me, then groups, then everyone');
    });

    it('offers to connect instead of sending while offline', async () => {
      const { client } = await startOne();
      client.setConnection({ kind: 'disconnected' });
      vscode.ui.queue.message.push('Connect');
      await vscode.commands.executeCommand('claudemesh.sendMessage');
      assert.deepEqual(vscode.ui.messages[0].items, ['Connect', 'Send Anyway']);
      assert.ok(client.calls.some((c) => c.method === 'connect'));
      assert.ok(!client.calls.some((c) => c.method === 'send'));
    });

    it('attaches the selection to the peer\'s composer and sends it as a fenced block under its workspace-relative path and lines', async () => {
      const { client } = await startOne();
      client.setPeers([alice]);
      const file = path.join(scratch.dir, 'src', 'a.ts');
      const document = new vscode.FakeTextDocument(vscode.Uri.file(file), 'line 1\nconst x = `a`;\nreturn x;\nline 4\n');
      vscode.setActiveEditor(document, new vscode.Selection(new vscode.Position(1, 0), new vscode.Position(3, 0)));
      vscode.ui.queue.quickPick.push('alice');
      await vscode.commands.executeCommand('claudemesh.sendSelection');
      const chat = frontChat();
      assert.deepEqual(chat.webview.postedOf('draft').pop()?.draft, { text: '', priority: 'next', attachment: 'src/a.ts · lines 2–3 · typescript' });
      chat.webview.fromPage({ type: 'send', text: '', priority: 'next' });
      await vscode.until(() => client.calls.some((c) => c.method === 'send'), 'the snippet to be sent');
      assert.equal(client.calls.find((c) => c.method === 'send')?.args[1], 'src/a.ts:2-3\n```typescript\nconst x = `a`;\nreturn x;\n```');
    });

    it('stores plain text as a string and JSON as its value, and refuses null and an empty value', async () => {
      const { client } = await startOne();
      vscode.ui.queue.inputBox.push('deploy', 'null');
      await vscode.commands.executeCommand('claudemesh.setState');
      assert.match(vscode.ui.rejectedInputs[0].reason, /cannot store null/);
      vscode.ui.queue.inputBox.push('deploy', '   ');
      await vscode.commands.executeCommand('claudemesh.setState');
      assert.match(vscode.ui.rejectedInputs[1].reason, /Type a value/);
      assert.ok(!client.calls.some((c) => c.method === 'setState'));

      vscode.ui.queue.inputBox.push('meeting', 'Friday 14:00');
      await vscode.commands.executeCommand('claudemesh.setState');
      assert.deepEqual(client.calls.find((c) => c.method === 'setState')?.args, ['meeting', 'Friday 14:00']);
      client.calls.length = 0;

      vscode.ui.queue.inputBox.push('deploy', '{"ready": true}');
      await vscode.commands.executeCommand('claudemesh.setState');
      assert.deepEqual(client.calls.find((c) => c.method === 'setState')?.args, ['deploy', { ready: true }]);
      const tree = await vscode.readTree('claudemesh.state');
      assert.deepEqual(tree.map((n) => [n.label, n.description]), [['deploy', '{"ready":true}'], ['meeting', '"Friday 14:00"']]);
    });

    it('edits a string value as the text itself, and one that looks like JSON with its quotes, so saving unchanged keeps it', async () => {
      assert.equal(stateValueText('Friday 14:00'), 'Friday 14:00');
      assert.equal(stateValueText('42'), '"42"');
      assert.equal(stateValueText({ a: 1 }), '{"a":1}');
      for (const value of ['Friday 14:00', '42', 'true', '[1]', { a: 1 }, 42, false]) assert.deepEqual(parseStateValue(stateValueText(value)), value);
    });

    it("refuses to send a selection from the extension's own documents", async () => {
      const { client } = await startOne();
      vscode.setActiveEditor(new vscode.FakeTextDocument(vscode.Uri.parse('claudemesh:/skill/x'), 'a peer wrote this'));
      vscode.window.activeTextEditor!.selection = new vscode.Selection(new vscode.Position(0, 0), new vscode.Position(0, 6));
      await vscode.commands.executeCommand('claudemesh.sendSelection');
      assert.match(vscode.ui.messages[0].message, /a document from the mesh, not one of your files/);
      assert.ok(!client.calls.some((c) => c.method === 'send'));
    });

    it('says who can read a message before it is typed: a DM is sealed, a group or broadcast is readable by the mesh', () => {
      assert.match(howItTravels(alice.pubkey), /end-to-end encrypted/);
      assert.match(howItTravels('@devs'), /group @devs; every member of the mesh can read it \(not end-to-end encrypted\)/);
      assert.match(howItTravels('*'), /everyone on the mesh; every member can read it/);
    });

    it('shows what Remember will store, with the selection in the box to check or trim', async () => {
      const { client } = await startOne();
      const doc = new vscode.FakeTextDocument(vscode.Uri.file(path.join(scratch.dir, 'notes.md')), 'the deploy key rotates on Fridays');
      vscode.setActiveEditor(doc);
      vscode.window.activeTextEditor!.selection = new vscode.Selection(new vscode.Position(0, 0), new vscode.Position(0, 14));
      let shown = '';
      vscode.ui.queue.inputBox.push((o) => (shown = o.value as string).replace(' key', ''), '');
      await vscode.commands.executeCommand('claudemesh.remember');
      assert.equal(shown, 'the deploy key');
      assert.deepEqual(client.calls.find((c) => c.method === 'remember')?.args, ['the deploy', []]);
    });

    it('says in the status bar that a state value was copied, and copies text values without quotes', async () => {
      const { client } = await startOne();
      client.stateEntries.set('meeting', { key: 'meeting', value: 'Friday 14:00', updatedBy: 'bob', updatedAt: '' });
      // (The load that connecting started may still be under way; the refresh waits for it, then reads again.)
      await vscode.readTree('claudemesh.state');
      await vscode.commands.executeCommand('claudemesh.refreshState');
      vscode.ui.queue.quickPick.push('meeting');
      await vscode.commands.executeCommand('claudemesh.copyStateValue');
      assert.equal(vscode.env.clipboard.text, 'Friday 14:00');
      assert.match(vscode.window.statusBarMessages.at(-1) ?? '', /Copied the value of meeting/);
    });

    /** A mesh with two shared-state keys, build and release, and their rows in the Shared State view. */
    async function twoStateKeys() {
      const { run: started, client } = await startOne();
      client.stateEntries.set('build', { key: 'build', value: 'red', updatedBy: 'bob', updatedAt: '' });
      client.stateEntries.set('release', { key: 'release', value: '0.1', updatedBy: 'bob', updatedAt: '' });
      await vscode.readTree('claudemesh.state');
      await vscode.commands.executeCommand('claudemesh.refreshState');
      const [build, release] = await vscode.readTree('claudemesh.state');
      return { started, client, build, release };
    }

    it('keeps an open shared-state document current: a change to its key re-reads it, other keys do not', async () => {
      const { started, client, build } = await twoStateKeys();
      await vscode.commands.executeCommand('claudemesh.openStateJson', build.element);
      const reread: string[] = [];
      started.running.app.documents.onDidChange((uri) => reread.push(uri.toString()));
      await client.setState('build', 'green');
      await client.setState('release', '0.2');
      await vscode.until(() => reread.length > 0, 'the open document to be re-read');
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(reread.length, 1, 'only the document of the key that changed');
      assert.match(await vscode.workspace.openTextDocument(vscode.Uri.parse(reread[0])).then((d) => d.getText()), /"value": "green"/);
    });

    it('re-reads an open document only while it is visible, once per burst, and once when it comes back into view', async () => {
      const { started, client, build, release } = await twoStateKeys();
      await vscode.commands.executeCommand('claudemesh.openStateJson', release.element);
      const releaseUri = vscode.shownDocuments[vscode.shownDocuments.length - 1].uri;
      // Opening build puts it in front: release is no longer visible.
      await vscode.commands.executeCommand('claudemesh.openStateJson', build.element);
      const buildUri = vscode.shownDocuments[vscode.shownDocuments.length - 1].uri;
      await new Promise((resolve) => setImmediate(resolve));
      const reread: string[] = [];
      started.running.app.documents.onDidChange((uri) => reread.push(uri.toString()));
      await client.setState('build', 'amber');
      await client.setState('build', 'green');
      await client.setState('release', '0.2');
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(reread, [buildUri.toString()], 'build once for the burst, release not at all');
      await vscode.window.showTextDocument(releaseUri);
      assert.deepEqual(reread, [buildUri.toString(), releaseUri.toString()]);
      assert.match(vscode.shownDocuments[vscode.shownDocuments.length - 1].getText(), /"value": "0.2"/);
    });

    it("shows the user's own Set State in the open document, as the view does, though the broker still answers the old value", async () => {
      const { run: started, client } = await startOne();
      client.stateEntries.set('release', { key: 'release', value: '0.1', updatedBy: 'bob', updatedAt: '' });
      await vscode.readTree('claudemesh.state');
      await vscode.commands.executeCommand('claudemesh.refreshState');
      const [release] = await vscode.readTree('claudemesh.state');
      await vscode.commands.executeCommand('claudemesh.openStateJson', release.element);
      // set_state has no reply: a get_state right after it can be answered before the write lands.
      const stale = client.stateEntries.get('release');
      client.getState = async () => stale;
      const reread: string[] = [];
      started.running.app.documents.onDidChange((uri) => reread.push(uri.toString()));
      vscode.ui.queue.inputBox.push('release', 'Friday 14:00');
      await vscode.commands.executeCommand('claudemesh.setState');
      await vscode.until(() => reread.length > 0, 'the open document to be re-read');
      assert.match((await vscode.readTree('claudemesh.state'))[0].description as string, /Friday 14:00/);
      assert.match(await vscode.workspace.openTextDocument(vscode.Uri.parse(reread[0])).then((d) => d.getText()), /"value": "Friday 14:00"/);
    });

    it('shares the current file as a skill, taking name, description and tags from its front matter', async () => {
      const { client } = await startOne();
      const text = '---\nname: release-notes\ndescription: Write release notes\ntags: [docs, release]\n---\n# Steps\n1. Read the log\n';
      vscode.setActiveEditor(new vscode.FakeTextDocument(vscode.Uri.file(path.join(scratch.dir, 'SKILL.md')), text));
      vscode.ui.queue.inputBox.push((o) => o.value as string, (o) => o.value as string, (o) => o.value as string);
      await vscode.commands.executeCommand('claudemesh.shareSkill');
      assert.deepEqual(client.calls.find((c) => c.method === 'shareSkill')?.args[0], {
        name: 'release-notes',
        description: 'Write release notes',
        instructions: '# Steps\n1. Read the log\n',
        tags: ['docs', 'release'],
      });
    });

    it('chooses which meshes to connect and drops the others', async () => {
      await useConfig(scratch.dir, [makeMesh('team'), makeMesh('ops')]);
      run = await scratch.start(root);
      const ops = run.client('ops');
      vscode.ui.queue.quickPick.push((items) => items.filter((i) => i.label === 'team'));
      await vscode.commands.executeCommand('claudemesh.chooseMeshes');
      await vscode.until(() => ops.disposed, 'the ops client to be disposed');
      assert.deepEqual(vscode.workspace.getConfiguration('claudemesh').get('meshes'), ['team']);
      assert.deepEqual(run.clients.filter((c) => !c.disposed).map((c) => c.mesh.slug), ['team']);
      // Reloads run one after another: this one ends after the dropped client's session lease is released (a file).
      await run.running.app.ctx.reload();
    });
  });

  describe('identities', () => {
    it('reuses the session key after a window reload, so the broker can reattach the session', async () => {
      await useConfig(scratch.dir, [makeMesh('team')]);
      const context = vscode.makeExtensionContext(root);
      run = await scratch.start(root, context);
      const before = run.client('team').options;
      await run.running.dispose();
      run = await scratch.start(root, context);
      const after = run.client('team').options;
      assert.equal(after.sessionKey.pubkey, before.sessionKey.pubkey);
      assert.equal(after.sessionId, before.sessionId);
    });

    it("gets this window's session key back after a reload whose shutdown could not write globalState", async () => {
      await useConfig(scratch.dir, [makeMesh('team')]);
      const context = vscode.makeExtensionContext(root);
      run = await scratch.start(root, context);
      const before = run.client('team').options;
      // On a reload VS Code invalidates the extension host's proxies before deactivate: every globalState write fails.
      const update = context.globalState.update.bind(context.globalState);
      context.globalState.update = () => Promise.reject(new Error('Canceled'));
      await run.running.dispose();
      context.globalState.update = update;
      run = await scratch.start(root, context);
      assert.equal(run.client('team').options.sessionKey.pubkey, before.sessionKey.pubkey, 'the same slot, so the broker reattaches the session');
    });

    /**
     * Another window on the same machine and workspace: shared globalState, workspaceState and secrets, another
     * extension host. Here that is a second Ctx (the fake vscode has one command registry, not two extensions).
     * Returns the options its client for the only mesh was created with.
     */
    async function optionsInAnotherWindow(sharing: ReturnType<typeof vscode.makeExtensionContext>): Promise<MeshClientOptions> {
      let created: MeshClientOptions | undefined;
      const other = new Ctx({ ...vscode.makeExtensionContext(root), globalState: sharing.globalState, workspaceState: sharing.workspaceState, secrets: sharing.secrets } as never, (options) => {
        created = options;
        return new FakeMeshClient(options);
      });
      try {
        await other.reload();
      } finally {
        await other.dispose();
      }
      assert.ok(created, 'the other window created a client');
      return created;
    }

    it('gives a second window on the same workspace its own session key and id', async () => {
      await useConfig(scratch.dir, [makeMesh('team')]);
      const first = vscode.makeExtensionContext(root);
      run = await scratch.start(root, first);
      const a = run.client('team').options;
      const b = await optionsInAnotherWindow(first);
      assert.notEqual(b.sessionKey.pubkey, a.sessionKey.pubkey);
      assert.notEqual(b.sessionId, a.sessionId);
    });

    it('takes over the session key of a window that stopped renewing its lease', async () => {
      await useConfig(scratch.dir, [makeMesh('team')]);
      const crashed = vscode.makeExtensionContext(root);
      run = await scratch.start(root, crashed);
      const crashedKey = run.client('team').options.sessionKey.pubkey;
      // A crashed window's lease file is simply never touched again.
      const leases = path.join(crashed.globalStorageUri.fsPath, 'leases');
      const [lease] = fs.readdirSync(leases).filter((name) => name.endsWith('.lock'));
      const longAgo = (Date.now() - 5 * 60_000) / 1000;
      fs.utimesSync(path.join(leases, lease), longAgo, longAgo);
      assert.equal((await optionsInAnotherWindow(crashed)).sessionKey.pubkey, crashedKey);
      assert.deepEqual(crashed.globalState.keys().filter((k) => k.includes('lease')), [], 'no lease in globalState');
    });

    it('shows one clear message for a broken config, with a button that opens it', async () => {
      const file = path.join(scratch.dir, 'config.json');
      fs.writeFileSync(file, '{"meshes": [ {"meshId": "short"} ');
      await vscode.workspace.getConfiguration('claudemesh').update('configPath', file);
      vscode.ui.queue.message.push('Open Claudemesh Config');
      run = await scratch.start(root);
      await vscode.until(() => vscode.shownDocuments.length > 0, 'the config to open');
      assert.equal(vscode.ui.messages.length, 1);
      assert.match(vscode.ui.messages[0].message, /config\.json is not valid JSON/);
      assert.equal(vscode.shownDocuments[0].uri.fsPath, file);
      assert.equal(vscode.contextKeys.get('claudemesh.hasIdentity'), false);
    });

    it("marks the walkthrough's Join and Peers steps done once they hold, once per window", async () => {
      await useConfig(scratch.dir, [makeMesh('team')]);
      const started = (run = await scratch.start(root));
      const marks = () => vscode.commandsRun.filter((c) => c.id === 'welcome.markStepComplete').map((c) => c.args[0]);
      assert.deepEqual(marks(), [`${WALKTHROUGH}#join`], 'an identity exists');
      const peersView = vscode.treeViews.get('claudemesh.peers');
      assert.ok(peersView);
      peersView.setVisible(false);
      const client = started.client('team');
      client.setConnection({ kind: 'connected', presenceId: 'p1', displayName: 'me' });
      client.setPeers([alice]);
      assert.deepEqual(marks(), [`${WALKTHROUGH}#join`], 'nobody has seen the peers yet');
      peersView.setVisible(true);
      client.setPeers([alice]);
      await started.running.app.ctx.reload();
      assert.deepEqual(marks(), [`${WALKTHROUGH}#join`, `${WALKTHROUGH}#peers`]);
    });

    it('leaves the walkthrough steps alone with no identity', async () => {
      await vscode.workspace.getConfiguration('claudemesh').update('configPath', path.join(scratch.dir, 'none.json'));
      run = await scratch.start(root);
      assert.deepEqual(vscode.commandsRun.filter((c) => c.id === 'welcome.markStepComplete'), []);
    });

    describe('Open Config with no config yet', () => {
      let file: string;
      beforeEach(async () => {
        file = path.join(scratch.dir, 'cli', 'config.json');
        await vscode.workspace.getConfiguration('claudemesh').update('configPath', file);
        run = await scratch.start(root);
      });

      it('says where the config would be, and Create writes an empty CLI config there (0600) and opens it', async () => {
        vscode.ui.queue.message.push('Create Empty Config');
        await vscode.commands.executeCommand('claudemesh.openConfig');
        assert.equal(vscode.ui.messages.length, 1);
        const [{ message, items }] = vscode.ui.messages;
        assert.ok(message.includes(`no claudemesh config at ${file} yet`), message);
        assert.deepEqual(items, ['Create Empty Config', 'Join Mesh from Invite Link']);
        assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), { version: 1, meshes: [] });
        if (process.platform !== 'win32') assert.equal(fs.statSync(file).mode & 0o777, 0o600);
        assert.equal(vscode.shownDocuments.at(-1)?.uri.fsPath, file);
        // The extension now reads it: a second Open Config opens it without asking.
        await vscode.commands.executeCommand('claudemesh.openConfig');
        assert.equal(vscode.ui.messages.length, 1);
        assert.equal(vscode.shownDocuments.at(-1)?.uri.fsPath, file);
      });

      it('offers Join Mesh from Invite Link instead, and writes nothing', async () => {
        vscode.ui.queue.message.push('Join Mesh from Invite Link');
        await vscode.commands.executeCommand('claudemesh.openConfig');
        assert.ok(vscode.commandsRun.some((c) => c.id === 'claudemesh.joinMesh'), 'Join Mesh ran');
        assert.equal(vscode.ui.inputBoxes.length, 1, 'it asks for the invite link');
        assert.equal(fs.existsSync(file), false);
        assert.equal(vscode.shownDocuments.length, 0);
      });
    });
  });
});


describe('the log tells the story', () => {
  it('logs joins, leaves and what happened to each sent message, at info, without the message text', () => {
    const channel = vscode.window.createOutputChannel('story');
    const client = new FakeMeshClient({ mesh: makeMesh('team'), sessionKey: { pubkey: hexKey('5e'), secretKey: '' } } as never);
    const story = new ActivityLog(client, channel as never);
    story.presence({ event: 'peer_joined', name: 'Ada', pubkey: hexKey('a1'), data: {} });
    story.presence({ event: 'peer_left', name: 'Ada', pubkey: hexKey('a1'), data: {} });
    const row = { clientMessageId: 'c1', targetLabel: 'Ada', text: 'the secret plan', attempts: 1, status: 'sending' } as OutboxRow;
    story.outbox([row]);
    story.outbox([{ ...row, status: 'held' }]);
    story.outbox([{ ...row, status: 'held' }]);
    story.outbox([{ ...row, status: 'sending', attempts: 2 }]);
    story.outbox([{ ...row, status: 'delivered', attempts: 2 }]);
    story.outbox([{ ...row, clientMessageId: 'c2', status: 'failed', lastError: 'payload too large' }]);
    assert.deepEqual(channel.lines, [
      '[info] team: Ada joined the mesh',
      '[info] team: Ada left the mesh',
      '[info] team: message c1 to Ada is held until the peer is online',
      '[info] team: message c1 to Ada resent (attempt 2)',
      '[info] team: message c1 to Ada delivered',
      '[info] team: message c2 to Ada failed: payload too large',
    ]);
    assert.ok(!channel.lines.join('\n').includes('secret plan'));
  });
});

describe('times and authors', () => {
  it('shows a broker time as relative with the absolute one beside it, and nothing for what is not a date', () => {
    assert.match(when('2026-12-02T01:52:00Z', Date.parse('2026-12-02T01:55:00Z')), /^3 min ago, .+/);
    assert.equal(when('yesterday-ish'), '');
    assert.equal(when(undefined), '');
  });

  it('names the writer as the member the broker names, with its live sessions when one has that name', () => {
    assert.equal(memberLabel('peer-b', [{ displayName: 'Rita', hostname: 'rita-laptop' }]), 'member peer-b');
    assert.equal(memberLabel('Rita', [{ displayName: 'Rita', hostname: 'rita-laptop' }]), 'member Rita (online on rita-laptop)');
    assert.equal(memberLabel('', []), 'an unknown member');
  });
});
