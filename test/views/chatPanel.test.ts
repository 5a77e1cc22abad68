/**
 * The chat panel in the real extension over scripted clients, with the test playing the page (src/views/chat/page.js): what
 * it is sent, and what the extension does with what the page asks for.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from '../support/fakeVscode';
import { formatSnippet } from '../../src/views/chat/snippet';
import { chatHtml, fakePeer, FakeRun, frontChat, hexKey, makeMesh, scratchWorkspace, useConfig } from './harness';

const root = path.resolve(__dirname, '../../..');
const ada = fakePeer({ pubkey: hexKey('ad'), displayName: 'Ada', hostname: 'ada-box', cwd: '/home/ada/shop' });

describe('the chat panel', () => {
  let run: FakeRun | undefined;

  const scratch = scratchWorkspace();

  async function startOne(context?: ReturnType<typeof vscode.makeExtensionContext>, mesh = makeMesh('team')) {
    await useConfig(scratch.dir, [mesh]);
    run = await scratch.start(root, context);
    const client = run.client('team');
    client.setConnection({ kind: 'connected', presenceId: 'p1', displayName: 'me' });
    client.setPeers([fakePeer({ pubkey: client.sessionPubkey, displayName: 'me' }), ada]);
    return { run, client };
  }

  /** What a click on a tree row runs. */
  async function click(node: vscode.TreeNode): Promise<void> {
    const command = node.item.command;
    assert.ok(command, `the row "${node.label}" does something on a click`);
    await vscode.commands.executeCommand(command.command, ...(command.arguments ?? []));
  }

  /** Clicks Ada's (first) session in the Peers view. */
  async function openAda(): Promise<vscode.FakeWebviewPanel> {
    const rows = (await vscode.readTree('claudemesh.peers')).flatMap((n) => [n, ...n.children]);
    await click(rows.find((n) => n.label === 'Ada' && n.contextValue === 'peer')!);
    return frontChat();
  }

  /** Ada's panel, opened after `count` messages from her (five minutes ago, a millisecond apart). */
  async function openAdaAfter(count: number) {
    const { client } = await startOne();
    const t0 = Date.now() - 300_000;
    for (let i = 0; i < count; i++) client.receive({ senderPubkey: ada.pubkey, text: `message ${i}`, receivedAt: t0 + i });
    // The peer list's names arrive on the next turn and rebuild the conversations once: settled before the panel opens.
    await new Promise((resolve) => setImmediate(resolve));
    return { client, chat: await openAda(), t0 };
  }

  it('opens from a click on the peer, one panel per conversation, focused again on the next click', async () => {
    await startOne();
    const chat = await openAda();
    assert.equal(chat.viewType, 'claudemesh.chat');
    assert.equal(chat.title, 'Ada');
    assert.deepEqual(chat.webview.postedOf('header').pop()?.header, {
      title: 'Ada',
      subtitle: 'idle · ada-box · shop',
      banner: '',
      composerLabel: 'Message to Ada',
      composerHint: "Sent end-to-end encrypted: only this peer's session can read it. Enter sends, Shift+Enter for a new line.",
    });
    chat.hide();
    await openAda();
    assert.equal(vscode.webviewPanels.length, 1);
    assert.equal(chat.reveals, 1);
  });

  it('marks where the unread messages start, and does not count what arrives while the panel is in front', async () => {
    const { client } = await startOne();
    const t0 = Date.now();
    client.receive({ senderPubkey: ada.pubkey, text: 'while you were away', receivedAt: t0 + 1 });
    const chat = await openAda();
    client.receive({ senderPubkey: ada.pubkey, text: 'while you read', receivedAt: t0 + 2 });
    assert.match(chatHtml(chat), /<div class="unread"[^>]*>.*while you were away.*while you read/s);
    chat.dispose();
    const again = await openAda();
    client.receive({ senderPubkey: ada.pubkey, text: 'read at once', receivedAt: t0 + 3 });
    assert.doesNotMatch(chatHtml(again), /class="unread"/);
    again.hide();
    client.receive({ senderPubkey: ada.pubkey, text: 'while in the background', receivedAt: t0 + 4 });
    assert.match(chatHtml(again), /read at once.*<div class="unread"[^>]*>.*while in the background/s);
  });

  it('sends the page only the new message when one arrives in a long conversation, not the history again', async () => {
    const { client, chat, t0 } = await openAdaAfter(200);
    const items = () => chatHtml(chat).match(/ id="k\d+"/g)!.length;
    const shown = items();
    const before = chat.webview.postedOf('patch').length;
    client.receive({ senderPubkey: ada.pubkey, text: 'the latest', receivedAt: t0 + 200 });
    const patches = chat.webview.postedOf('patch').slice(before);
    assert.deepEqual(
      patches.map((p) => [p.keep, (p.order as string[]).length, Object.keys(p.html as object).length]),
      [[shown, 1, 1]],
      'every item before it stays on the page as it was, neither listed nor sent again',
    );
    assert.match(Object.values(patches[0].html as Record<string, string>)[0], /<p>the latest<\/p>/);
    assert.equal(items(), shown + 1);
    assert.match(chatHtml(chat), /message 199<\/p>.*the latest<\/p>/s);
  });

  it('sends the page every item again when it says it missed a patch, so nothing it kept goes missing', async () => {
    const { client, chat, t0 } = await openAdaAfter(3);
    const shown = chatHtml(chat).match(/ id="k\d+"/g)!.length;
    client.receive({ senderPubkey: ada.pubkey, text: 'the latest', receivedAt: t0 + 3 });
    const incremental = chat.webview.postedOf('patch').at(-1)!;
    assert.deepEqual([incremental.keep, incremental.keepId], [shown, `k${shown}`], 'the patch names the last item it assumes the page shows');
    chat.webview.fromPage({ type: 'resync' });
    const full = chat.webview.postedOf('patch').at(-1)!;
    assert.equal(full.keep, 0);
    assert.equal((full.order as string[]).length, shown + 1);
    assert.equal(Object.keys(full.html as object).length, shown + 1, 'every item is sent again, as after a reload');
  });

  it('serves a page under a strict CSP: nothing inline, script and style only from the extension, by nonce', async () => {
    await startOne();
    const { html, options } = (await openAda()).webview;
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)?.[1] ?? '';
    assert.match(csp, /^default-src 'none'; style-src https:\/\/fake-webview\.invalid; script-src 'nonce-[A-Za-z0-9+/=]{24}';/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
    const nonce = /'nonce-([^']+)'/.exec(csp)![1];
    assert.deepEqual([...html.matchAll(/<script([^>]*)>/g)].map((m) => m[1]), [` nonce="${nonce}" src="https://fake-webview.invalid${path.join(root, 'dist', 'chat.js')}"`]);
    assert.doesNotMatch(html, /\sstyle=|\son\w+=/);
    assert.equal(options.enableScripts, true);
    assert.deepEqual((options.localResourceRoots as vscode.Uri[]).map((u) => u.fsPath), [path.join(root, 'media'), path.join(root, 'dist')]);
  });

  it('sends from the composer with the picked priority, shows the status as it changes, and keeps the draft per conversation across a reload', async () => {
    const mesh = makeMesh('team');
    const first = await startOne(undefined, mesh);
    let chat = await openAda();
    chat.webview.fromPage({ type: 'draft', text: 'half a thought', priority: 'low' });
    await vscode.until(() => first.run.context.workspaceState.keys().some((k) => k.startsWith('claudemesh.drafts/')), 'the draft to be saved');
    const context = first.run.context;
    await first.run.running.dispose();

    const { client } = await startOne(vscode.makeExtensionContext(root, { workspaceState: context.workspaceState }), mesh);
    chat = await openAda();
    assert.deepEqual(chat.webview.postedOf('draft').pop()?.draft, { text: 'half a thought', priority: 'low' });
    chat.webview.fromPage({ type: 'send', text: 'half a thought, finished\nover two lines', priority: 'low' });
    await vscode.until(() => client.outbox.length === 1, 'the message to be queued');
    assert.deepEqual(client.calls.find((c) => c.method === 'send')?.args, [ada.pubkey, 'half a thought, finished\nover two lines', { priority: 'low', label: 'Ada' }]);
    assert.deepEqual(chat.webview.postedOf('draft').pop()?.draft, { text: '', priority: 'low' }, 'the composer is cleared');
    assert.match(chatHtml(chat), /<p>half a thought, finished<br>\nover two lines<\/p>\n<\/div><div class="status s-queued" role="status"><span class="status-label">queued<\/span>/);
    client.setOutbox([{ ...client.outbox[0], status: 'sent' }]);
    assert.match(chatHtml(chat), /<span class="status-label">sent<\/span>/);
    await vscode.until(() => !context.workspaceState.keys().some((k) => k.startsWith('claudemesh.drafts/') && JSON.stringify(context.workspaceState.get(k)) !== '{}'), 'the draft to be dropped');
  });

  it('says it is offline and shows what is sent meanwhile as queued until connected', async () => {
    const { client } = await startOne();
    const chat = await openAda();
    client.setConnection({ kind: 'reconnecting', attempt: 2, retryAt: Date.now() + 5000, lastError: 'ECONNREFUSED' });
    assert.equal((chat.webview.postedOf('header').pop()?.header as { banner: string }).banner, 'Offline (reconnecting). Messages you send are queued and go out once connected.');
    chat.webview.fromPage({ type: 'send', text: 'while down', priority: 'next' });
    await vscode.until(() => client.outbox.length === 1, 'the message to be queued');
    assert.match(chatHtml(chat), /<span class="status-label">queued · goes out once connected<\/span><button type="button" data-act="discard">Discard<\/button>/);
  });

  it('puts the text back in the composer and says why when the message could not even be queued', async () => {
    const { client } = await startOne();
    const chat = await openAda();
    client.send = async () => {
      throw new Error('The message is too large to send (70,000 bytes; the broker takes 65,536).');
    };
    chat.webview.fromPage({ type: 'send', text: 'a very long message', priority: 'now' });
    await vscode.until(() => chat.webview.postedOf('send-failed').length === 1, 'the page to hear of the failure');
    await vscode.until(() => vscode.ui.messages.length === 1, 'the error');
    assert.match(vscode.ui.messages[0].message, /too large to send/);
    assert.deepEqual(chat.webview.postedOf('draft').pop()?.draft, { text: 'a very long message', priority: 'now' });
  });

  it('retries and discards in place, and only where the status allows it', async () => {
    const { client } = await startOne();
    const chat = await openAda();
    const failed = await client.send(ada.pubkey, 'did it work?', { label: 'Ada' });
    const sent = await client.send(ada.pubkey, 'this one did', { label: 'Ada' });
    client.setOutbox([{ ...failed, status: 'failed', lastError: 'blocked by recipient grants' }, { ...sent, status: 'sent' }]);
    const html = chatHtml(chat);
    const idOf = (text: string) => new RegExp(`<article[^>]* id="(k\\d+)"[^>]*>(?:(?!</article>).)*${text}`, 's').exec(html)![1];
    assert.match(html, /failed<\/span><span class="status-detail">blocked by recipient grants<\/span><button type="button" data-act="retry">Retry/);
    chat.webview.fromPage({ type: 'discard', id: idOf('this one did') });
    chat.webview.fromPage({ type: 'retry', id: idOf('did it work') });
    await vscode.until(() => client.calls.some((c) => c.method === 'retry'), 'the retry');
    chat.webview.fromPage({ type: 'discard', id: idOf('did it work') });
    await vscode.until(() => client.outbox.length === 1, 'the discard');
    assert.deepEqual(client.calls.filter((c) => c.method === 'retry' || c.method === 'discard').map((c) => [c.method, c.args[0]]), [['retry', failed.clientMessageId], ['discard', failed.clientMessageId]]);
  });

  it('opens a link only if the message offered it, after a modal naming the target', async () => {
    const { client } = await startOne();
    const chat = await openAda();
    client.receive({ senderPubkey: ada.pubkey, text: 'docs at [the wiki](https://wiki.example/page) and [run](command:workbench.action.terminal.new)' });
    const id = /<article[^>]* id="(k\d+)"/.exec(chatHtml(chat))![1];
    vscode.ui.queue.message.push('Open Link');
    chat.webview.fromPage({ type: 'link', id, link: 0 });
    await vscode.until(() => vscode.env.opened.length === 1, 'the link to open');
    assert.deepEqual(vscode.ui.messages.pop(), { severity: 'warning', message: 'Open a link from a peer?', items: ['Open Link'], modal: true, detail: 'https://wiki.example/page' });
    assert.equal(vscode.env.opened[0].toString(), 'https://wiki.example/page');
    chat.webview.fromPage({ type: 'link', id, link: 1 });
    chat.webview.fromPage({ type: 'link', id: 'k999', link: 0 });
    chat.webview.fromPage({ type: 'link', id, link: 'https://evil.example' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(vscode.ui.messages.length, 0, 'nothing else is even offered');
    assert.equal(vscode.env.opened.length, 1);
  });

  it('copies a code block and inserts it at the cursor of the last editor used', async () => {
    const { client } = await startOne();
    const document = new vscode.FakeTextDocument(vscode.Uri.file(path.join(scratch.dir, 'a.ts')), 'before\n');
    vscode.setActiveEditor(document, new vscode.Selection(new vscode.Position(1, 0), new vscode.Position(1, 0)));
    const chat = await openAda();
    client.receive({ senderPubkey: ada.pubkey, text: 'try\n```ts\nconst fixed = true;\n```' });
    const id = /<article[^>]* id="(k\d+)"/.exec(chatHtml(chat))![1];
    chat.webview.fromPage({ type: 'copy', id, code: 0 });
    await vscode.until(() => vscode.env.clipboard.text !== '', 'the copy');
    assert.equal(vscode.env.clipboard.text, 'const fixed = true;');
    chat.webview.fromPage({ type: 'insert', id, code: 0 });
    await vscode.until(() => document.getText() !== 'before\n', 'the insert');
    assert.equal(document.getText(), 'before\nconst fixed = true;');
  });

  it("opens a peer's snippet at its lines when the workspace has the file, and says so when it differs, is missing or leaves the workspace", async () => {
    const { client } = await startOne();
    fs.mkdirSync(path.join(scratch.dir, 'src'));
    fs.writeFileSync(path.join(scratch.dir, 'src', 'a.ts'), 'one\nconst a = 1;\nreturn a;\nfour\n');
    const chat = await openAda();
    const send = (p: string, code: string) => client.receive({ senderPubkey: ada.pubkey, text: formatSnippet({ path: p, start: 2, end: 3, language: 'typescript', code }) });
    send('src/a.ts', 'const a = 1;\nreturn a;');
    send('src/a.ts', 'const a = 2;\nreturn a;');
    send('src/gone.ts', 'x');
    send('../outside.ts', 'x');
    const html = chatHtml(chat);
    assert.match(html, /<div class="snippet" role="group" aria-label="Snippet from src\/a.ts, lines 2–3"><div class="snippet-bar"><span class="snippet-path">src\/a.ts<\/span><span class="snippet-lines">lines 2–3<\/span><button type="button" data-act="open-snippet">Open at lines<\/button>/);
    const ids = [...html.matchAll(/<article[^>]* id="(k\d+)"/g)].map((m) => m[1]);
    chat.webview.fromPage({ type: 'open-snippet', id: ids[0] });
    await vscode.until(() => vscode.shownDocuments.length === 1, 'the file to open');
    await new Promise((resolve) => setTimeout(resolve, 20));
    const editor = vscode.window.activeTextEditor!;
    assert.equal(editor.document.uri.fsPath, path.join(scratch.dir, 'src', 'a.ts'));
    assert.deepEqual([editor.selection.start.line, editor.selection.end.line, editor.selection.end.character], [1, 2, 9]);
    assert.equal(vscode.ui.messages.length, 0, 'the same lines: nothing to say');
    for (const [i, id] of ids.slice(1).entries()) {
      chat.webview.fromPage({ type: 'open-snippet', id });
      await vscode.until(() => vscode.ui.messages.length === i + 1, 'an explanation');
    }
    assert.deepEqual(vscode.ui.messages.map((m) => m.message), [
      'Claudemesh: src/a.ts:2-3 differs in your copy of the file; the lines are selected as they are now.',
      'Claudemesh: src/gone.ts is not in this workspace.',
      'Claudemesh: "../outside.ts" is not a workspace-relative path; nothing was opened.',
    ]);
  });

  it('attaches the selection from the composer button, and sends it under a note', async () => {
    const { client } = await startOne();
    const document = new vscode.FakeTextDocument(vscode.Uri.file(path.join(scratch.dir, 'lib', 'b.py')), 'x = 1\ny = 2\n', 'python');
    vscode.setActiveEditor(document, new vscode.Selection(new vscode.Position(1, 0), new vscode.Position(1, 5)));
    const chat = await openAda();
    chat.webview.fromPage({ type: 'attach' });
    await vscode.until(() => chat.webview.postedOf('attachment').length > 0, 'the attachment');
    assert.equal(chat.webview.postedOf('attachment').pop()?.attachment, 'lib/b.py · line 2 · python');
    chat.webview.fromPage({ type: 'send', text: 'why is y 2?', priority: 'next' });
    await vscode.until(() => client.outbox.length === 1, 'the message');
    assert.equal(client.outbox[0].text, 'why is y 2?\n\nlib/b.py:2\n```python\ny = 2\n```');
  });

  it('keeps the peer\'s last name after the session left, says since when it is offline, and never falls back to a key', async () => {
    const { client } = await startOne();
    const chat = await openAda();
    client.receive({ senderPubkey: ada.pubkey, text: 'bye for now' });
    await client.send(ada.pubkey, 'see you', { label: 'Ada' });
    client.setPeers([fakePeer({ pubkey: client.sessionPubkey, displayName: 'me' })]);
    // Conversations look at a changed peer list on the next turn.
    await new Promise((resolve) => setImmediate(resolve));
    const header = chat.webview.postedOf('header').pop()?.header as { title: string; subtitle: string };
    assert.equal(header.title, 'Ada');
    assert.match(header.subtitle, /^offline since \w{3} \d+, \d{4}, \d+:\d\d\s[AP]M$/);
    const [conversation] = await vscode.readTree('claudemesh.messages');
    assert.equal(conversation.label, 'Ada');
    assert.match(chatHtml(chat), /<span class="from">Ada<\/span>/);
    assert.doesNotMatch(chatHtml(chat) + JSON.stringify(header), /adadad/);
  });

  it('names each session of a member by where it runs, in its panel and in Messages', async () => {
    const { client } = await startOne();
    const laptop = { ...ada, pubkey: hexKey('ae'), hostname: 'ada-laptop', cwd: 'C:\\Users\\ada\\docs' };
    client.setPeers([ada, laptop]);
    const chat = await openAda();
    assert.equal((chat.webview.postedOf('header').pop()?.header as { subtitle: string }).subtitle, 'idle · ada-box · shop · one of 2 sessions of this member');
    client.receive({ senderPubkey: ada.pubkey, text: 'from the box' });
    client.receive({ senderPubkey: laptop.pubkey, text: 'from the laptop' });
    assert.deepEqual((await vscode.readTree('claudemesh.messages')).map((n) => n.label).sort(), ['Ada (ada-box · shop)', 'Ada (ada-laptop · docs)']);
    assert.equal(chat.title, 'Ada (ada-box · shop)');
  });

  it('gives everyone and each group a panel of their own, from the Messages view', async () => {
    const { client } = await startOne();
    client.receive({ senderPubkey: ada.pubkey, senderName: 'Ada', kind: 'multicast', text: 'to all' });
    await client.send('@devs', 'to the devs', { label: '@devs' });
    for (const row of await vscode.readTree('claudemesh.messages')) await click(row);
    assert.deepEqual(vscode.webviewPanels.map((p) => p.title).sort(), ['@devs', 'Everyone']);
  });

  it('restores a panel after a window reload from the state its page kept', async () => {
    await startOne();
    const chat = await openAda();
    const state = chat.webview.postedOf('state').pop()?.state;
    const restored = new vscode.FakeWebviewPanel('claudemesh.chat', 'Ada', {});
    await vscode.webviewSerializers.get('claudemesh.chat')!.deserializeWebviewPanel(restored, state);
    restored.webview.fromPage({ type: 'ready' });
    assert.match(restored.webview.html, /Content-Security-Policy/);
    assert.equal(restored.title, 'Ada');
  });
});
