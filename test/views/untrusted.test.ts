/**
 * The one rule for outside text (src/views/shared/untrusted.ts), and Mallory (test/support/mallory.ts) passed through every
 * surface the extension has: tree labels, descriptions, tooltips and messages, quick picks, input-box titles,
 * notifications, the status bar, and every document. Whatever she wrote must arrive inert.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Peer } from '../../src/broker/types';
import { docUri, parseDocUri } from '../../src/views/shared/documents';
import { block, documentJson, documentText, escapeMarkdown, inline, markdown } from '../../src/views/shared/untrusted';
import { hostile, huge, LINKS, MALLORY } from '../support/mallory';
import * as vscode from '../support/fakeVscode';
import { chatHtml, FakeMeshClient, fakePeer, FakeRun, frontChat, hexKey, makeMesh, scratchWorkspace, useConfig } from './harness';

const root = path.resolve(__dirname, '../../..');
const HIDDEN = /[\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/;

/** What no single-line or tooltip surface may contain: link syntax, icon syntax, hidden characters, unbounded text. */
function assertInert(text: string | undefined, where: string, max = 2100): void {
  if (text === undefined) return;
  // `[x] (y)` is text everywhere: notifications and CommonMark both need `](` with nothing between.
  assert.doesNotMatch(text, /\]\(/, `${where} has link syntax: ${text.slice(0, 200)}`);
  assert.doesNotMatch(text, /\$\(/, `${where} has icon syntax: ${text.slice(0, 200)}`);
  assert.doesNotMatch(text, HIDDEN, `${where} has a hidden character`);
  assert.ok(text.length <= max, `${where} is ${text.length} characters long`);
}

/** A document: no clickable URL or command, no hidden character, our own first line, our language. */
function assertInertDocument(document: vscode.FakeTextDocument, language: string): void {
  const text = document.getText();
  const where = `document ${document.uri.path}`;
  assert.equal(document.languageId, language, `${where} language`);
  assert.doesNotMatch(text, /[a-z]:\/\//i, `${where} has a linkable URL`);
  assert.doesNotMatch(text, /command:|vscode:/i, `${where} has a command URI`);
  assert.doesNotMatch(text, HIDDEN, `${where} has a hidden character`);
  assert.doesNotMatch(path.posix.basename(document.uri.path), /\.(md|markdown|html?|sh|xml|svg)$|^Makefile$/i, `${where} file name picks a language`);
  if (language === 'plaintext') assert.match(text.split('\n')[0], /^Claudemesh (skill|memory), shown as plain text; links in it are disabled\.$/);
  assert.ok(text.includes('Mallory') || text.includes('evil'), `${where} shows Mallory's text at all`);
}

describe('the rule for outside text', () => {
  it('keeps a line readable but breaks links and icons, shows hidden characters and cuts it to size', () => {
    assert.equal(inline('[x](command:y) $(gear) a\nb'), '[x] (command:y) $ (gear) a b');
    assert.equal(inline('\u202Eabc\u202C'), '[U+202E]abc[U+202C]');
    assert.equal(inline('x'.repeat(500), 10), 'xxxxxxxxx…');
    assert.equal(inline(huge('h')).length, 120);
    assert.equal(inline('😀'.repeat(10), 4), '😀…', 'no half surrogate pair');
  });

  it('turns odd types into text instead of throwing', () => {
    assert.equal(inline(42), '42');
    assert.equal(inline(null), '');
    assert.equal(inline({ a: '[x](command:y)' }), '{"a":"[x] (command:y)"}');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.equal(inline(cyclic), '[a value that cannot be shown]');
    assert.equal(block(['a', 1]), '["a",1]');
  });

  it('escapes every Markdown character inside a MarkdownString', () => {
    assert.equal(escapeMarkdown('[a](command:x) *b* <i>$(icon)'), '\\[a\\]\\(command\\:x\\) \\*b\\* \\<i\\>\\$\\(icon\\)');
    assert.doesNotMatch(markdown(hostile('md')), /(?<!\\)[<[\]()]/);
  });

  it('defangs URLs and command URIs in documents, keeping them readable', () => {
    assert.equal(documentText(`see ${LINKS.web} or ${LINKS.file} or [x](command:a.b)`), 'see https[:]//evil.example/track?u=1 or file[:]///etc/passwd or [x](command[:]a.b)');
    assert.match(documentText('x'.repeat(300_000)), /\[… 100000 more characters not shown\]$/);
  });

  it('writes JSON that parses back to the same value but links nothing and hides nothing', () => {
    const value = { url: LINKS.web, cmd: 'command:x', bidi: '\u202Eok', nested: [LINKS.file] };
    const text = documentJson(value);
    assert.deepEqual(JSON.parse(text), value);
    assert.doesNotMatch(text, /:\/\/|command:|\u202E/);
  });

  it('keeps a peer name from choosing a document path or language, and round-trips the reference', () => {
    const uri = docUri({ kind: 'memory', meshId: 'm1', id: '@ops/team' }, '../../etc/passwd.md');
    assert.equal(uri.path, '/memory/______etc_passwd_md (memory)');
    assert.deepEqual(parseDocUri(uri), { kind: 'memory', meshId: 'm1', id: '@ops/team' });
    assert.equal(docUri({ kind: 'skill', meshId: 'm1', name: 'Makefile' }, 'Makefile').path, '/skill/Makefile (skill)');
    assert.equal(docUri({ kind: 'state', meshId: 'm1', key: 'a.schema' }, 'a.schema').path, '/state/a_schema (shared state).json');
  });

  it('is the only way to a notification: nothing but shared/notify.ts calls vscode.window.show*Message', () => {
    const dir = path.join(root, 'src');
    const files = fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    const offenders = files.filter((f) => !f.endsWith(path.join('views', 'shared', 'notify.ts')) && /show(Information|Warning|Error)Message/.test(fs.readFileSync(path.join(dir, f), 'utf8')));
    assert.ok(files.length > 10);
    assert.deepEqual(offenders, []);
  });
});

describe('Mallory on every surface', () => {
  let run: FakeRun | undefined;
  let client: FakeMeshClient;
  let mallory: Peer;

  const scratch = scratchWorkspace();

  beforeEach(async () => {
    // Two meshes, so mesh nodes, mesh-prefixed toasts and the mesh pick show up too; one slug is hostile.
    await useConfig(scratch.dir, [makeMesh('team'), makeMesh(`evil ${LINKS.sentinel} $(bug)`)]);
    run = await scratch.start(root);
    client = run.client('team');
    mallory = fakePeer({
      pubkey: hexKey('e1'),
      displayName: MALLORY.name,
      summary: MALLORY.summary,
      groups: MALLORY.groups,
      profile: MALLORY.profile,
      hostname: MALLORY.hostname,
      cwd: MALLORY.cwd,
      model: hostile('model'),
    });
    // Odd types where strings belong, as a broker that skipped validation would hand them over.
    const odd = fakePeer({ pubkey: hexKey('e2'), displayName: 12345 as never, summary: { $: LINKS.sentinel } as never, hostname: ['$(gear)'] as never });
    client.setPeers([fakePeer({ pubkey: client.sessionPubkey, displayName: 'me' }), mallory, { ...mallory, pubkey: hexKey('e3'), sessionId: 'second' }, odd]);
    client.skills = [{ ...MALLORY.skill, createdAt: hostile('when') }];
    client.memories = [{ id: 'mem1', ...MALLORY.memory, rememberedBy: MALLORY.name, rememberedAt: hostile('at') }];
    for (const [key, value] of Object.entries(MALLORY.state)) client.stateEntries.set(key, { key, value, updatedBy: MALLORY.name, updatedAt: hostile('at') });
    client.setConnection({ kind: 'connected', presenceId: 'p1', displayName: 'me' });
  });

  /** The rows of a view under the "team" mesh node (two meshes: every view groups by mesh). */
  async function teamRows(view: string): Promise<vscode.TreeNode[]> {
    const team = (await vscode.readTree(view)).find((n) => n.label === 'team');
    assert.ok(team, `${view} has a "team" node`);
    return team.children;
  }

  async function everyTreeNode(): Promise<vscode.TreeNode[]> {
    const all: vscode.TreeNode[] = [];
    const walk = (nodes: vscode.TreeNode[]) => nodes.forEach((n) => (all.push(n), walk(n.children)));
    for (const view of ['claudemesh.peers', 'claudemesh.messages', 'claudemesh.state', 'claudemesh.skills', 'claudemesh.memories']) walk(await vscode.readTree(view));
    return all;
  }

  it('shows her in every tree with inert labels, descriptions, tooltips and view messages', async () => {
    client.receive({ senderPubkey: mallory.pubkey, text: MALLORY.message });
    client.receive({ senderPubkey: mallory.pubkey, senderName: MALLORY.name, kind: 'multicast', text: MALLORY.message });
    const row = await client.send(mallory.pubkey, 'hi', { label: MALLORY.name });
    client.setOutbox([{ ...row, status: 'failed', lastError: hostile('broker error') }]);
    vscode.ui.queue.inputBox.push('anything');
    await vscode.commands.executeCommand('claudemesh.recall', { meshId: client.mesh.meshId });
    await vscode.commands.executeCommand('claudemesh.refreshSkills', { meshId: client.mesh.meshId });
    run!.client(`evil ${LINKS.sentinel} $(bug)`).setConnection({ kind: 'failed', code: 'x', reason: hostile('failure') });

    const nodes = await everyTreeNode();
    const text = nodes.map((n) => `${n.label} ${n.description}`).join('\n');
    for (const expected of ['Mallory', 'notes.md', 'Makefile', 'odd types', '#!/bin/bash', '12345']) assert.ok(text.includes(expected), `no tree shows "${expected}"`);
    for (const node of nodes) {
      assertInert(node.label, `label "${node.label.slice(0, 40)}"`, 200);
      assertInert(node.description, `description of "${node.label.slice(0, 40)}"`, 200);
      assertInert(node.tooltip, `tooltip of "${node.label.slice(0, 40)}"`);
      assertInert(node.item.accessibilityInformation?.label, 'accessibility label', 300);
    }
    for (const view of vscode.treeViews.values()) {
      assertInert(view.message, `${view.id} message`);
      assertInert(view.description, `${view.id} description`);
    }
  });

  it('keeps the status bar text and its Markdown tooltip inert', async () => {
    client.setConnection({ kind: 'connected', presenceId: 'p', displayName: MALLORY.name });
    client.setConnection({ kind: 'reconnecting', attempt: 1, retryAt: Date.now() + 5000, lastError: huge('error') });
    const item = vscode.statusBarItems.find((i) => i.id === 'claudemesh.status' && !i.disposed)!;
    assert.ok(item.tooltip instanceof vscode.MarkdownString);
    assert.doesNotMatch(item.tooltip.value, /(?<!\\)[<>]|(?<!\\)\]\((?!command:claudemesh\.)/, 'only our own links, no HTML');
    assert.ok(item.tooltip.value.length < 2000);
    assert.doesNotMatch(item.text.replace(/^\$\([a-z~-]+\) /, '').replace(/ {2}\$\((mail|clock)\) \d+/g, ''), /\$\(/, item.text);
    assertInert(item.accessibilityInformation?.label, 'status bar accessibility label', 300);
  });

  it('defuses everything of hers in a notification: messages, presence, saved and failed sends, errors', async () => {
    await vscode.workspace.getConfiguration('claudemesh').update('presenceNotifications', true);
    client.receive({ senderPubkey: mallory.pubkey, text: MALLORY.message, priority: 'now' });
    client.receive({ senderPubkey: mallory.pubkey, senderName: MALLORY.name, kind: 'multicast', text: huge('broadcast') });
    client.presence({ event: 'peer_joined', name: MALLORY.name, pubkey: mallory.pubkey, data: {} });
    const evil = run!.client(`evil ${LINKS.sentinel} $(bug)`);
    evil.setConnection({ kind: 'connected', presenceId: 'p2', displayName: 'me' });
    evil.receive({ senderPubkey: mallory.pubkey, senderName: MALLORY.name, kind: 'multicast', text: 'hi' });
    // Sending to her while offline ("saved") and a send the outbox failed at once.
    client.setConnection({ kind: 'disconnected' });
    vscode.ui.queue.message.push('Send Anyway');
    vscode.ui.queue.quickPick.push((items) => items.find((i) => i.label.startsWith('Mallory')));
    await vscode.commands.executeCommand('claudemesh.sendMessage', { meshId: client.mesh.meshId });
    frontChat().webview.fromPage({ type: 'send', text: 'hello', priority: 'next' });
    client.setConnection({ kind: 'connected', presenceId: 'p', displayName: 'me' });
    client.send = async () => {
      throw new Error(hostile('refused'));
    };
    vscode.ui.queue.quickPick.push((items) => items.find((i) => i.label.startsWith('@')));
    await vscode.commands.executeCommand('claudemesh.sendMessage', { meshId: client.mesh.meshId });
    frontChat().webview.fromPage({ type: 'send', text: 'hello group', priority: 'next' });
    await vscode.until(() => vscode.ui.messages.some((m) => m.message.includes('refused')), 'the refused send to be reported');
    // A command failing with her text in the error.
    client.listState = async () => {
      throw new Error(hostile('thrown'));
    };
    await vscode.commands.executeCommand('claudemesh.refreshState', { meshId: client.mesh.meshId });
    vscode.ui.queue.message.push(undefined);
    await vscode.commands.executeCommand('claudemesh.forget', { meshId: client.mesh.meshId });

    const toasts = vscode.ui.messages;
    assert.ok(toasts.length >= 6, toasts.map((t) => t.message).join('\n'));
    for (const toast of toasts) assertInert(toast.message, `notification "${toast.message.slice(0, 60)}"`, 1600);
    assert.ok(toasts.some((t) => t.message.includes('[evil')), 'the hostile mesh slug prefixes a toast');
    assert.ok(toasts.some((t) => t.message.includes('Mallory [sentinel] (command:')), 'her name is still readable');
  });

  it('lists her inertly in every quick pick and input title', async () => {
    vscode.ui.queue.quickPick.push((items) => items.find((i) => i.label.startsWith('Mallory')));
    await vscode.commands.executeCommand('claudemesh.sendMessage', { meshId: client.mesh.meshId });
    await vscode.commands.executeCommand('claudemesh.copyPublicKey', { meshId: client.mesh.meshId });
    await vscode.commands.executeCommand('claudemesh.openSkill', { meshId: client.mesh.meshId });
    vscode.ui.queue.quickPick.push((items) => items.find((i) => i.label.startsWith('Makefile')));
    vscode.ui.queue.inputBox.push(undefined);
    await vscode.commands.executeCommand('claudemesh.editState', { meshId: client.mesh.meshId });
    vscode.ui.queue.inputBox.push('q');
    vscode.ui.queue.quickPick.push((items) => items[0]);
    await vscode.commands.executeCommand('claudemesh.recall', { meshId: client.mesh.meshId });
    client.receive({ senderPubkey: mallory.pubkey, text: 'x' });
    await vscode.commands.executeCommand('claudemesh.openConversation');
    await vscode.commands.executeCommand('claudemesh.chooseMeshes');
    await vscode.commands.executeCommand('claudemesh.reconnect');
    await vscode.commands.executeCommand('claudemesh.setStatus');

    assert.ok(vscode.ui.quickPicks.length >= 8, `${vscode.ui.quickPicks.length} quick picks`);
    for (const pick of vscode.ui.quickPicks) {
      assertInert(String(pick.options.title ?? ''), 'quick pick title', 200);
      for (const item of pick.items) {
        assertInert(item.label, `quick pick item "${item.label.slice(0, 40)}"`, 200);
        assertInert(item.description, 'quick pick description', 200);
        assertInert(item.detail, 'quick pick detail', 200);
      }
    }
    for (const box of vscode.ui.inputBoxes) {
      assertInert(String(box.title ?? ''), 'input box title', 200);
      assertInert(String(box.prompt ?? ''), 'input box prompt', 300);
    }
    assert.ok(vscode.ui.inputBoxes.some((b) => String(b.title).startsWith('Set State: Makefile [sentinel] (command:')));
    const panel = vscode.webviewPanels.find((p) => p.title.startsWith('Mallory'));
    assert.ok(panel, 'Send Message opened her chat panel');
    assertInert(panel.title, 'chat panel title', 200);
  });

  it('shows her conversation in a chat panel with no link, image, script, style or hidden character of hers', async () => {
    client.receive({ senderPubkey: mallory.pubkey, text: MALLORY.message });
    client.receive({ senderPubkey: mallory.pubkey, text: huge('second message') });
    const [conversation] = await teamRows('claudemesh.messages');
    await vscode.commands.executeCommand('claudemesh.openConversation', conversation.element);
    const chat = frontChat();
    const html = chatHtml(chat);
    assert.ok(html.includes('Mallory'), 'her messages are shown at all');
    const tags = [...html.matchAll(/<[^>]*>/g)].join('');
    assert.doesNotMatch(tags, /\shref=|\ssrc=|\sstyle=|\son\w+=|<(img|script|style|iframe|object|embed|svg|form|input|link|meta)\b/i);
    assert.doesNotMatch(html, HIDDEN, 'a hidden character reached the page');
    assertInert(chat.title, 'chat panel title', 200);
    for (const header of chat.webview.postedOf('header')) for (const value of Object.values(header.header as Record<string, string>)) assertInert(value, 'chat panel header', 400);
  });

  it('opens each of her documents as plain text or JSON, with nothing to click and nothing to fetch', async () => {
    const [skill] = await teamRows('claudemesh.skills');
    await vscode.commands.executeCommand('claudemesh.openSkill', skill.element);
    vscode.ui.queue.inputBox.push('anything');
    await vscode.commands.executeCommand('claudemesh.recall', { meshId: client.mesh.meshId });
    const [memory] = await teamRows('claudemesh.memories');
    await vscode.commands.executeCommand('claudemesh.openMemory', memory.element);
    for (const state of await teamRows('claudemesh.state')) await vscode.commands.executeCommand('claudemesh.openStateJson', state.element);

    const shown = vscode.shownDocuments;
    assert.equal(shown.length, 2 + Object.keys(MALLORY.state).length);
    for (const document of shown.slice(0, 2)) assertInertDocument(document, 'plaintext');
    for (const document of shown.slice(2)) {
      assertInertDocument(document, 'json');
      const envelope = JSON.parse(document.getText());
      assert.deepEqual(Object.keys(envelope), ['key', 'updatedBy', 'updatedAt', 'value'], 'the root is ours: no $schema of hers');
      assert.deepEqual(envelope.value, MALLORY.state[envelope.key], 'the value itself is intact');
    }
    assert.match(shown[0].getText(), /^Name: notes\.md \[sentinel\] \(command\[:\]claudemeshSentinel\.touch\)$/m, 'the skill header is one escaped line per field');
  });
});
