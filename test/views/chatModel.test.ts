/**
 * The chat panel's plain-Node parts: the sanitiser (markdown.ts) against hostile peer text, the view model
 * (model.ts: days, unread, grouping, status, snippet cards), snippets (snippet.ts) and the incremental renderer.
 */
import { strict as assert } from 'node:assert';
import type { OutboxRow } from '../../src/broker/types';
import type { ConversationEntry } from '../../src/views/conversations/model';
import { isAllowedLink } from '../../src/views/chat/escape';
import { renderMarkdown } from '../../src/views/chat/markdown';
import { buildItems, ChatItem, ChatItems, MessageItem, ModelInput, outgoingStatus } from '../../src/views/chat/model';
import { ChatRenderer } from '../../src/views/chat/render';
import { formatSnippet, isSafeRelativePath, parseSnippet } from '../../src/views/chat/snippet';

/** The only tags and attributes the renderer may produce; anything else reaching the page is a hole. */
const TAGS = new Set(['p', 'br', 'strong', 'em', 's', 'code', 'pre', 'a', 'div', 'span', 'button', 'ul', 'ol', 'li', 'blockquote', 'hr', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'article', 'header', 'time']);
const ATTRIBUTES = new Set(['class', 'role', 'tabindex', 'title', 'aria-label', 'type', 'data-link', 'data-act', 'data-code', 'data-at', 'datetime', 'id', 'start']);

function assertOnlySafeMarkup(html: string): void {
  for (const [, tag, attributes] of html.matchAll(/<\/?([a-zA-Z][\w-]*)([^>]*)>/g)) {
    assert.ok(TAGS.has(tag.toLowerCase()), `tag <${tag}> reached the page`);
    for (const [, name] of attributes.matchAll(/\s([^\s=]+)="[^"]*"/g)) assert.ok(ATTRIBUTES.has(name), `attribute ${name} on <${tag}> reached the page`);
    // Every attribute is name="value": nothing unquoted, so nothing can smuggle a second attribute.
    assert.equal(attributes.replace(/\s[^\s=]+="[^"]*"/g, '').trim(), '', `stray text in <${tag}${attributes}>`);
  }
}

const HOSTILE = [
  '[run](command:workbench.action.terminal.new)',
  '[run](command:claudemesh.disconnect?%5B%5D "Disconnect")',
  '<command:workbench.action.terminal.new>',
  '[x][ref]\n\n[ref]: command:workbench.action.terminal.new',
  '<script>alert(1)</script>',
  '<img src="https://evil.example/pixel.png" onerror="alert(1)">',
  '![pixel](https://evil.example/pixel.png)',
  '![pixel][p]\n\n[p]: https://evil.example/pixel.png',
  '<iframe src="https://evil.example"></iframe><style>body{display:none}</style>',
  '[x](javascript:alert(1)) [y](JaVaScRiPt:alert(1)) [z](java&#x09;script:alert(1)) [w](  javascript:alert(1))',
  '[d](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==) [v](vbscript:x) [f](file:///etc/passwd) [h](http://plain.example)',
  '[a](https://ok.example "title\\" onmouseover=\\"alert(1)")',
  '```"><script>alert(1)</script>\ncode\n```',
  '`<b>inline</b>`',
  '<a href="command:x">raw anchor</a>',
  '| a | b |\n|:-|-:|\n| <img src=x> | [c](command:y) |',
];

describe('the chat sanitiser', () => {
  for (const hostile of HOSTILE) {
    it(`lets no markup, command link or fetch through: ${JSON.stringify(hostile).slice(0, 70)}`, () => {
      const { html, links } = renderMarkdown(hostile);
      assertOnlySafeMarkup(html);
      const tags = [...html.matchAll(/<[^>]*>/g)].join('');
      assert.doesNotMatch(tags, /\shref=|\ssrc=|\sstyle=|\son\w+=/i);
      assert.ok(links.every(isAllowedLink), `only https: and mailto: links: ${links.join(', ')}`);
      assert.ok(!links.some((l) => /^(command|javascript|data|vbscript|file|http):/i.test(l)));
    });
  }

  it('keeps https: and mailto: links, offered by index, without an href the page could follow', () => {
    const { html, links } = renderMarkdown('see [docs](https://example.com/a?b=1) or write to ada@example.com');
    assert.deepEqual(links, ['https://example.com/a?b=1', 'mailto:ada@example.com']);
    assert.match(html, /<a class="link" role="link" tabindex="0" data-link="0" title="https:\/\/example.com\/a\?b=1">docs<\/a>/);
  });

  it('shows bidi controls as visible marks, in text, link text and code alike', () => {
    const { html, code } = renderMarkdown('abc\u202Egnp.exe [\u2066click\u2069](https://example.com)\n```\nif (x) {\u202E } \u2066// y\n```');
    assert.doesNotMatch(html, /[\u202a-\u202e\u2066-\u2069]/);
    assert.match(html, /abc⟦U\+202E⟧gnp\.exe/);
    assert.match(html, /⟦U\+2066⟧click⟦U\+2069⟧/);
    assert.equal(code[0], 'if (x) {⟦U+202E⟧ } ⟦U+2066⟧// y');
  });

  it('renders code blocks escaped and monospace, with Copy and Insert at Cursor naming the block by index', () => {
    const { html, code } = renderMarkdown('one\n```ts\nconst a = "<b>";\n```\ntwo\n\n    indented <i>\n');
    assert.deepEqual(code, ['const a = "<b>";', 'indented <i>']);
    assert.match(html, /<span class="code-lang">ts<\/span><button type="button" data-act="copy" data-code="0">Copy<\/button><button type="button" data-act="insert" data-code="0">Insert at Cursor<\/button>/);
    assert.match(html, /<pre><code>const a = &quot;&lt;b&gt;&quot;;\n<\/code><\/pre>/);
    assert.match(html, /data-code="1"/);
  });

  it('renders 40 KB of hostile text completely and still safely', () => {
    const unit = '[a](command:x) <img src=x> ![i](https://e/i.png) **b _c `d ``` [[[(((\u202E javascript:alert(1) ';
    const text = unit.repeat(Math.ceil(40_960 / unit.length)).slice(0, 40_960);
    const { html, links } = renderMarkdown(text);
    assertOnlySafeMarkup(html);
    assert.ok(links.every(isAllowedLink));
    assert.ok(html.length > 40_000, 'nothing was dropped');
    const nested = renderMarkdown('['.repeat(20_000) + ']('.repeat(10_000) + '>'.repeat(10_000));
    assertOnlySafeMarkup(nested.html);
  });
});

// ---- the view model ----

const HOUR = 3_600_000;
const now = new Date(2026, 11, 2, 15, 0).getTime();

function row(fields: Partial<OutboxRow> & { clientMessageId: string; createdAt: number }): OutboxRow {
  return {
    seq: 1,
    fingerprint: 'f',
    meshId: 'm',
    targetSpec: 'a'.repeat(64),
    targetLabel: 'Ada',
    priority: 'next',
    nonce: '',
    ciphertext: '',
    text: 'hi',
    status: 'sent',
    attempts: 0,
    nextAttemptAt: 0,
    ...fields,
  };
}

function inbound(id: string, at: number, text: string | null, from = 'Ada'): ConversationEntry {
  return {
    direction: 'in',
    at,
    text,
    from,
    message: { id, brokerMessageId: `b-${id}`, meshId: 'm', senderPubkey: 'a'.repeat(64), kind: 'direct', text, priority: 'next', createdAt: '', receivedAt: at },
  };
}

function outbound(r: OutboxRow): ConversationEntry {
  return { direction: 'out', at: r.createdAt, text: r.text, from: 'you', row: r };
}

const messages = (items: ChatItem[]) => items.filter((i): i is MessageItem => i.type === 'message');

describe('the chat view model', () => {
  it('puts a day separator before each day, labelled Today, Yesterday or the date', () => {
    const entries = [inbound('1', now - 50 * HOUR, 'old'), inbound('2', now - 20 * HOUR, 'yesterday'), inbound('3', now - HOUR, 'today')];
    const items = buildItems({ entries, unreadAfter: now, recipient: 'Ada', online: true, now });
    assert.deepEqual(
      items.map((i) => (i.type === 'day' ? i.label : i.type)),
      ['Mon, Nov 30', 'message', 'Yesterday', 'message', 'Today', 'message'],
    );
  });

  it('places the unread marker before the first inbound message newer than the read marker, once', () => {
    const sent = row({ clientMessageId: 'c1', createdAt: now - 3 * HOUR });
    const entries = [inbound('1', now - 4 * HOUR, 'read'), outbound(sent), inbound('2', now - 2 * HOUR, 'new 1'), inbound('3', now - HOUR, 'new 2')];
    const items = buildItems({ entries, unreadAfter: now - 3.5 * HOUR, recipient: 'Ada', online: true, now });
    assert.deepEqual(items.map((i) => (i.type === 'message' ? i.text : i.type)), ['day', 'read', 'hi', 'unread', 'new 1', 'new 2']);
  });

  it('groups consecutive messages of one sender within five minutes, and starts over after a gap or another sender', () => {
    const t = now - HOUR;
    const entries = [inbound('1', t, 'a'), inbound('2', t + 60_000, 'b'), inbound('3', t + 10 * 60_000, 'c'), inbound('4', t + 11 * 60_000, 'd', 'Grace')];
    const items = messages(buildItems({ entries, unreadAfter: now, recipient: 'Ada', online: true, now }));
    assert.deepEqual(items.map((i) => i.continued), [false, true, false, false]);
  });

  it('gives what the user sent its status, with Retry and Discard where they apply', () => {
    const look = (status: OutboxRow['status'], extra: Partial<OutboxRow> = {}, online = true) => outgoingStatus(row({ clientMessageId: 'c', createdAt: now, status, ...extra }), 'Ada', online);
    assert.deepEqual(look('queued', {}, false), { state: 'queued', label: 'queued · goes out once connected', retry: false, discard: true });
    assert.equal(look('queued').label, 'queued');
    assert.deepEqual(look('sending'), { state: 'sending', label: 'sending', retry: false, discard: false });
    assert.deepEqual(look('sent'), { state: 'sent', label: 'sent', retry: false, discard: false });
    assert.equal(look('held').label, 'held · waits for Ada to come online');
    assert.deepEqual(look('held'), { state: 'held', label: 'held · waits for Ada to come online', detail: undefined, retry: true, discard: true });
    assert.deepEqual(look('failed', { lastError: 'payload too large' }), { state: 'failed', label: 'failed', detail: 'payload too large', retry: true, discard: true });
    assert.deepEqual(look('delivered', { deliveredAt: now }), { state: 'delivered', label: 'delivered', retry: false, discard: false });
    assert.deepEqual(look('not_delivered', { notDeliveredReason: 'Ada left before taking it' }), { state: 'not_delivered', label: 'not delivered', detail: 'Ada left before taking it', retry: false, discard: true });
    assert.deepEqual(look('unknown'), { state: 'unknown', label: 'may not have been sent', detail: undefined, retry: true, discard: true });
    assert.equal(look('held', { recipient: { pubkey: 'a'.repeat(64), name: 'Ada (laptop)' } }).label, 'held · waits for Ada (laptop) to come online');
    // A state this build does not know yet is shown by its name.
    assert.deepEqual(look('bounced' as OutboxRow['status']), { state: 'bounced', label: 'bounced', detail: undefined, retry: false, discard: false });
  });

  it('turns a message that carries a snippet into a snippet card with the text around it', () => {
    const text = `have a look\n\n${formatSnippet({ path: 'src/a.ts', start: 2, end: 3, language: 'typescript', code: 'const a = 1;\nreturn a;' })}\n\nthanks`;
    const [item] = messages(buildItems({ entries: [inbound('1', now, text)], unreadAfter: now, recipient: 'Ada', online: true, now }));
    assert.deepEqual(item.snippet, { before: 'have a look', after: 'thanks', snippet: { path: 'src/a.ts', start: 2, end: 3, language: 'typescript', code: 'const a = 1;\nreturn a;' } });
  });
});

describe('the chat view model, kept up to date', () => {
  /** Entries that count which of them were looked at. */
  function watched(entries: ConversationEntry[], read: Set<string>): ConversationEntry[] {
    return entries.map((entry) => new Proxy(entry, { get: (target, field) => (read.add(target.message?.id ?? target.row!.clientMessageId), Reflect.get(target, field)) }));
  }

  it('turns only a new message into an item when the conversation grows at the end, keeping every item before it', () => {
    const read = new Set<string>();
    const entries = watched(Array.from({ length: 1_000 }, (_, i) => inbound(String(i), now - (1_000 - i) * 60_000, `message ${i}`)), read);
    const list = new ChatItems();
    const input = (): ModelInput => ({ entries, unreadAfter: now - 500 * 60_000, recipient: 'Ada', online: true, now });
    assert.equal(list.update(input()), 0);
    const before = [...list.items];
    read.clear();
    entries.push(...watched([inbound('new', now, 'the latest')], read));
    assert.equal(list.update(input()), before.length, 'every item before it is kept');
    assert.deepEqual([...read], ['new'], 'no earlier entry is looked at');
    assert.equal(list.items.length, before.length + 1);
    before.forEach((item, i) => assert.equal(list.items[i], item));
    assert.deepEqual(list.items, buildItems(input()));
  });

  it('comes out as built from scratch after every kind of change, and keeps items only when the conversation just grew', () => {
    const list = new ChatItems();
    let input: ModelInput = { entries: [inbound('1', now - 30 * HOUR, 'yesterday'), inbound('2', now - 3 * HOUR, 'read')], unreadAfter: now - 2 * HOUR, recipient: 'Ada', online: true, now };
    const entries = input.entries as ConversationEntry[];
    const step = (change: string, next: Partial<ModelInput>, keeps: boolean) => {
      const shown = list.items.length;
      input = { ...input, ...next };
      const kept = list.update(input);
      assert.deepEqual(list.items, buildItems(input), change);
      assert.equal(kept, keeps ? shown : 0, `${change}: ${keeps ? 'keeps the items' : 'builds again'}`);
    };
    step('opened', {}, false);
    entries.push(inbound('3', now - HOUR, 'new, under the unread line'));
    step('a message', {}, true);
    entries.push(inbound('4', now - HOUR + 60_000, 'grouped with it'), outbound(row({ clientMessageId: 'c1', createdAt: now - 30 * 60_000, status: 'queued' })));
    step('two more', {}, true);
    step('nothing new', {}, true);
    step('read up to the line: it stays', { unreadAfter: now - 2 * HOUR + 1 }, true);
    step('read past the line', { unreadAfter: now - HOUR }, false);
    entries.splice(1, 0, inbound('0', now - 4 * HOUR, 'arrived late, in the middle'));
    step('an entry in the middle', {}, false);
    step('offline', { online: false }, false);
    step('the peer renamed', { recipient: 'Ada (laptop)' }, false);
    step('a new day', { now: now + 10 * HOUR }, false);
    step('the outbox changed (a new list)', { entries: [...entries.slice(0, -1), outbound(row({ clientMessageId: 'c1', createdAt: now - 30 * 60_000, status: 'sent' }))] }, false);
    (input.entries as ConversationEntry[]).push(inbound('5', now + 8 * HOUR, 'into the new list'));
    step('a message into the new list', {}, true);
    step('all read', { unreadAfter: now + 8 * HOUR }, false);
    // While the user reads, the read marker follows each new message (what the panel does): no line, nothing rebuilt.
    (input.entries as ConversationEntry[]).push(inbound('6', now + 9 * HOUR, 'read as it arrives'));
    step('a message read as it arrives', { unreadAfter: now + 9 * HOUR }, true);
    step('the read marker going back', { unreadAfter: now - 10 * HOUR }, false);
  });
});

describe('snippets', () => {
  it('round-trips through the text every peer reads, with a longer fence when the code holds one', () => {
    const snippet = { path: 'docs/README.md', start: 7, end: 7, language: 'markdown', code: '```js\nx\n```' };
    const text = formatSnippet(snippet);
    assert.equal(text, 'docs/README.md:7\n````markdown\n```js\nx\n```\n````');
    assert.deepEqual(parseSnippet(text), { before: '', snippet, after: '' });
  });

  it('finds none when the fence never closes, the header is not a path and lines, or the range runs backwards', () => {
    assert.equal(parseSnippet('src/a.ts:1\n```ts\nunclosed'), undefined);
    assert.equal(parseSnippet('just: text\n```\nx\n```'), undefined);
    assert.equal(parseSnippet('src/a.ts:9-3\n```\nx\n```'), undefined);
    assert.equal(parseSnippet('x:1\nnot a fence\n'.repeat(5_000) + 'x:1\n```\nunclosed'), undefined);
  });

  it('accepts only workspace-relative paths without dot segments, drives or backslashes', () => {
    for (const good of ['src/a.ts', 'a', 'docs/my file.md']) assert.ok(isSafeRelativePath(good), good);
    for (const bad of ['/etc/passwd', '../x', 'src/../../x', './a', 'C:/x', 'c:x', 'a\\b', 'a//b', '', 'a/\u0000']) assert.ok(!isSafeRelativePath(bad), bad);
  });
});

describe('the chat renderer', () => {
  const entries = (count: number) => Array.from({ length: count }, (_, i) => inbound(String(i), now - (count - i) * 60_000, `message ${i}`));
  const build = (list: ConversationEntry[]) => buildItems({ entries: list, unreadAfter: now, recipient: 'Ada', online: true, now });

  it('sends every item first, then only what is new or changed, with DOM ids of its own', () => {
    const renderer = new ChatRenderer();
    const first = renderer.patch(build(entries(3)), now);
    assert.deepEqual(first.order, ['k1', 'k2', 'k3', 'k4']);
    assert.deepEqual(Object.keys(first.html), first.order);
    const sent = row({ clientMessageId: '"><img src=x>', createdAt: now, status: 'queued' });
    const second = renderer.patch(build([...entries(3), outbound(sent)]), now);
    assert.deepEqual(Object.keys(second.html), ['k5']);
    assert.match(second.html.k5, /^<article class="msg out" id="k5"/);
    const third = renderer.patch(build([...entries(3), outbound({ ...sent, status: 'sent' })]), now);
    assert.deepEqual(Object.keys(third.html), ['k5'], 'a status change re-sends that message only');
    assert.match(third.html.k5, /<span class="status-label">sent<\/span>/);
    assert.equal(renderer.find('k5')?.item.type, 'message');
  });

  it('sends everything again after the page reloaded, and forgets items no longer shown', () => {
    const renderer = new ChatRenderer();
    renderer.patch(build(entries(2)), now);
    renderer.reset();
    assert.equal(Object.keys(renderer.patch(build(entries(2)), now).html).length, 3);
    const shorter = renderer.patch(build(entries(2).slice(1)), now);
    assert.equal(renderer.find(shorter.order[0]) !== undefined, true);
    assert.equal(renderer.find('k2'), undefined, 'the dropped message can no longer be acted on');
  });

  it('lists only the items after the ones the page keeps, renders only the new ones, and keeps nothing after a reload', () => {
    const renderer = new ChatRenderer();
    const list = entries(3);
    const first = renderer.patch(build(list), now);
    assert.deepEqual([first.keep, first.order.length], [0, 4]);
    list.push(inbound('new', now, 'the latest'));
    const second = renderer.patch(build(list), now, 4);
    assert.deepEqual(second, { keep: 4, keepId: 'k4', order: ['k5'], html: { k5: second.html.k5 } });
    assert.match(second.html.k5, /the latest/);
    renderer.reset();
    const reloaded = renderer.patch(build(list), now, 5);
    assert.deepEqual([reloaded.keep, reloaded.order, Object.keys(reloaded.html)], [0, ['k1', 'k2', 'k3', 'k4', 'k5'], ['k1', 'k2', 'k3', 'k4', 'k5']]);
  });

  it('labels each message for screen readers with sender, time, priority and status', () => {
    const renderer = new ChatRenderer();
    const sent = row({ clientMessageId: 'c1', createdAt: now, status: 'failed', lastError: '<b>boom</b>', priority: 'now' });
    const { html } = renderer.patch(build([inbound('1', now, 'x', 'Ada <script>'), outbound(sent)]), now);
    const all = Object.values(html).join('');
    assertOnlySafeMarkup(all);
    assert.match(all, /aria-label="Ada &lt;script&gt;, Dec 2, 2026, 3:00\sPM"/);
    assert.match(all, /aria-label="you, Dec 2, 2026, 3:00\sPM, priority now, failed"/);
    assert.match(all, /<span class="status-detail">&lt;b&gt;boom&lt;\/b&gt;<\/span><button type="button" data-act="retry">Retry<\/button><button type="button" data-act="discard">Discard<\/button>/);
  });
});
