/**
 * Figure 9, the chat panel's view model and render function (src/views/chat/model.ts, render.ts, markdown.ts): what
 * the extension does before it posts a patch to the page. (a) Opening a panel on a conversation of 1,000 messages:
 * the items built and every message rendered from Markdown, with a fresh renderer (nothing cached). (b) One new
 * message arriving in that open panel, as the panel handles it: the items for the new entry only (ChatItems) and the
 * patch, which renders only the new message. The history mixes what a conversation with Claude Code sessions holds: plain lines, lists, links,
 * inline code, code blocks and snippet cards, from both sides, with outgoing statuses.
 * Baseline for (a): markdown-it alone (same options, its own renderer) on the same 1,000 bodies, back to back with ours
 * in each run, so the ratio shows what the view model, our renderer rules and the page's HTML add.
 */
import MarkdownIt from 'markdown-it';
import type { OutboxRow } from '../src/broker/types';
import { buildItems, ChatItems } from '../src/views/chat/model';
import { ChatRenderer } from '../src/views/chat/render';
import { formatSnippet } from '../src/views/chat/snippet';
import type { ConversationEntry } from '../src/views/conversations/model';
import { absoluteRow, now, Pair, ratioRow, Row } from './measure';

const HISTORY = 1_000;
const UPDATES = 50;

const BODIES = [
  'Sure, on it.',
  'I looked at the failing test: the fixture reuses the port after `close()` resolves, but the socket is still in TIME_WAIT on CI. Two options:\n\n1. bind to port 0 and read the port back\n2. retry the listen with a short backoff\n\nI would go with 1.',
  'See https://example.com/docs/guide#ports and the [broker notes](https://example.com/notes).',
  'Here is the change:\n\n```ts\nexport async function listen(server: Server): Promise<number> {\n  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));\n  return (server.address() as AddressInfo).port;\n}\n```\n\nIt keeps the **same** API.',
  formatSnippet({ path: 'src/broker/connection.ts', start: 120, end: 128, language: 'typescript', code: 'if (this.closed) return;\nthis.socket?.terminate();\nthis.socket = undefined;\nthis.schedule();\n'.repeat(2) }),
  'Done: all 291 tests pass locally. Pushing now; ping me if CI disagrees.',
];

function history(count: number, start: number): ConversationEntry[] {
  const entries: ConversationEntry[] = [];
  for (let i = 0; i < count; i++) entries.push(entry(i, start + i * 90_000));
  return entries;
}

function entry(i: number, at: number): ConversationEntry {
  const text = `${BODIES[i % BODIES.length]} (${i})`;
  if (i % 3 === 1) {
    const row: OutboxRow = {
      seq: i,
      clientMessageId: `c${i}`,
      fingerprint: 'f',
      meshId: 'm',
      targetSpec: 'a'.repeat(64),
      targetLabel: 'Ada',
      priority: i % 30 === 1 ? 'now' : 'next',
      nonce: '',
      ciphertext: '',
      text,
      status: i >= HISTORY - 10 && i < HISTORY ? 'queued' : 'sent',
      attempts: 0,
      nextAttemptAt: 0,
      createdAt: at,
    };
    return { direction: 'out', at, text, from: 'you', row };
  }
  return {
    direction: 'in',
    at,
    text,
    from: 'Ada',
    message: { id: `m${i}`, brokerMessageId: `b${i}`, meshId: 'm', senderPubkey: 'a'.repeat(64), kind: 'direct', text, priority: 'next', createdAt: '', receivedAt: at },
  };
}

export function chatPanel(runs: number): Row[] {
  const start = Date.now() - HISTORY * 90_000 - 60_000;
  const entries = history(HISTORY, start);
  const input = (list: ConversationEntry[]) => ({ entries: list, unreadAfter: start + (HISTORY - 5) * 90_000, recipient: 'Ada', online: true, now: Date.now() });
  // Warm the JIT and markdown-it's lazy load once, outside the figures.
  new ChatRenderer().patch(buildItems(input(entries)));

  const plain = new MarkdownIt({ html: false, linkify: true, breaks: true });
  const bodies = entries.map((e) => e.text ?? '');
  const opens: Pair[] = [];
  const updates: number[] = [];
  for (let run = 0; run < runs; run++) {
    const renderer = new ChatRenderer();
    const t0 = now();
    const first = renderer.patch(buildItems(input(entries)));
    const ours = now() - t0;
    const t2 = now();
    for (const body of bodies) plain.render(body);
    opens.push({ ours, baseline: now() - t2 });
    if (Object.keys(first.html).length < HISTORY) throw new Error('the first patch did not render every message');

    const samples: number[] = [];
    const list = [...entries];
    // The panel's items, kept up to date from the same live list (opened with the 1,000 the renderer has sent).
    const items = new ChatItems();
    const opened = input(list);
    items.update(opened);
    renderer.patch(items.items, opened.now);
    for (let u = 0; u < UPDATES; u++) {
      list.push(entry(HISTORY + u, list[list.length - 1].at + 30_000));
      const t1 = now();
      const next = input(list);
      const kept = items.update(next);
      const patch = renderer.patch(items.items, next.now, kept);
      samples.push(now() - t1);
      if (Object.keys(patch.html).length > 2) throw new Error(`an update re-rendered ${Object.keys(patch.html).length} items`);
    }
    updates.push(samples.sort((a, b) => a - b)[samples.length >> 1]);
  }
  return [
    absoluteRow('9a. Chat panel: open with 1,000 messages (view model + render)', 'ms', opens.map((p) => p.ours), { atMost: 100 }),
    ratioRow('9a. … against markdown-it alone on the same bodies', 'ms', opens, { atMost: 2 }),
    absoluteRow('9b. Chat panel: one new message in an open panel of 1,000', 'ms', updates, { atMost: 10 }),
  ];
}
