/**
 * Turns the view model into what the page shows. The page keeps one element per item; ChatRenderer remembers what it
 * sent, so an update sends only new or changed items plus the order. When the caller says the first items are the
 * ones of the last patch (ChatItems does, when a message arrived), those are neither looked at nor listed again: a
 * new message costs one item's rendering and one id, not the history's. Message bodies are rendered once per
 * message: their text never changes.
 * DOM ids are ours (`k1`, `k2`, …), never a peer-chosen message id. No vscode import (unit tests, bench).
 */
import { ago } from '../shared/time';
import { inline } from '../shared/untrusted';
import { escapeHtml, showBidiControls } from './escape';
import type * as Markdown from './markdown';
import type { Env } from './markdown';
import type { ChatItem, MessageItem } from './model';

let markdown: typeof Markdown | undefined;

/**
 * markdown.ts (and markdown-it with it) loads with the first message rendered, not at activation: the release build
 * keeps it in its own file, dist/markdown.js (esbuild.mjs).
 */
function md(): typeof Markdown {
  // A require at the point of use is what keeps it out of activation; an import would load it with this module.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (markdown ??= require('./markdown') as typeof Markdown);
}

export interface Patch {
  /** How many items at the start the page keeps as they are. */
  keep: number;
  /**
   * The DOM id of the last kept item, so the page can check it shows what this renderer thinks it shows; when it does
   * not, it asks for everything again ('resync') rather than drop or misplace items.
   */
  keepId?: string;
  /** The DOM ids of the items after those, in display order. */
  order: string[];
  /** Outer HTML of each item that is new or changed since the last patch. */
  html: Record<string, string>;
}

/** What an action from the page may act on: the item, and the code and links its rendering offered. */
export interface Rendered {
  item: ChatItem;
  code: string[];
  links: string[];
}

const text = (value: string) => escapeHtml(showBidiControls(value));

// One formatter for every message: toLocaleString builds a new one per call, which a 1,000-message panel notices.
const ABSOLUTE = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeStyle: 'short' });

export function absoluteTime(at: number): string {
  return ABSOLUTE.format(at);
}

function signature(item: ChatItem): string {
  if (item.type !== 'message') return item.type === 'day' ? item.label : '';
  const s = item.status;
  return `${item.from}|${item.continued}|${s ? `${s.state}|${s.label}|${s.detail ?? ''}` : ''}`;
}

export class ChatRenderer {
  private readonly ids = new Map<string, string>();
  private readonly sent = new Map<string, string>();
  private readonly bodies = new Map<string, { html: string; env: Env }>();
  private readonly current = new Map<string, Rendered>();
  /** The DOM ids of the last patch's items, in display order: what the page shows. */
  private readonly shownOrder: string[] = [];
  private reloaded = false;
  private nextId = 0;

  /** The page was (re)loaded: the next patch sends every item. */
  reset(): void {
    this.sent.clear();
    this.reloaded = true;
  }

  /** The item behind a DOM id the page sent back, or undefined if it is not shown (any more). */
  find(domId: string): Rendered | undefined {
    return this.current.get(domId);
  }

  /** The patch from the last one to `items`, of which the first `kept` are the last patch's first `kept`, unchanged. */
  patch(items: readonly ChatItem[], now = Date.now(), kept = 0): Patch {
    // A reloaded page has nothing to keep.
    const keep = this.reloaded ? 0 : Math.min(kept, this.shownOrder.length);
    const keepId = keep > 0 ? this.shownOrder[keep - 1] : undefined;
    this.reloaded = false;
    const order: string[] = [];
    const html: Record<string, string> = {};
    const shown = new Set<string>();
    for (let i = keep; i < items.length; i++) {
      const item = items[i];
      let id = this.ids.get(item.key);
      if (!id) this.ids.set(item.key, (id = `k${++this.nextId}`));
      order.push(id);
      shown.add(id);
      const body = item.type === 'message' ? this.body(item) : undefined;
      this.current.set(id, { item, code: body?.env.code ?? [], links: body?.env.links ?? [] });
      const sig = signature(item);
      if (this.sent.get(id) === sig) continue;
      this.sent.set(id, sig);
      html[id] = this.itemHtml(id, item, body?.html ?? '', now);
    }
    for (let i = keep; i < this.shownOrder.length; i++) {
      const id = this.shownOrder[i];
      if (!shown.has(id)) {
        this.current.delete(id);
        this.sent.delete(id);
      }
    }
    this.shownOrder.length = keep;
    for (const id of order) this.shownOrder.push(id);
    return keepId === undefined ? { keep, order, html } : { keep, keepId, order, html };
  }

  private body(item: MessageItem): { html: string; env: Env } {
    let body = this.bodies.get(item.key);
    if (!body) {
      body = renderBody(item);
      this.bodies.set(item.key, body);
    }
    return body;
  }

  private itemHtml(id: string, item: ChatItem, body: string, now: number): string {
    if (item.type === 'day') return `<div class="day" id="${id}" role="separator" aria-label="${text(item.label)}"><span>${text(item.label)}</span></div>`;
    if (item.type === 'unread') return `<div class="unread" id="${id}" role="separator" aria-label="New messages below"><span>New</span></div>`;
    // A name is one line under the rule of every other surface (shared/untrusted.ts), escaped for HTML.
    const from = escapeHtml(inline(item.from, 120));
    const absolute = escapeHtml(absoluteTime(item.at));
    const when = `<time data-at="${item.at}" datetime="${new Date(item.at).toISOString()}" title="${absolute}" tabindex="0">${escapeHtml(ago(item.at, now))}</time>`;
    const priority = item.priority === 'next' ? '' : `<span class="priority p-${item.priority}">${item.priority}</span>`;
    const status = item.status ? statusHtml(item) : '';
    const label = `${from}, ${absolute}${item.priority === 'next' ? '' : `, priority ${item.priority}`}${item.status ? `, ${escapeHtml(item.status.label)}` : ''}`;
    return (
      `<article class="msg ${item.direction}${item.continued ? ' continued' : ''}" id="${id}" tabindex="-1" aria-label="${label}">` +
      `<header><span class="from">${from}</span>${when}${priority}</header>` +
      `<div class="body">${body}</div>${status}</article>`
    );
  }
}

function statusHtml(item: MessageItem): string {
  const s = item.status!;
  const detail = s.detail ? `<span class="status-detail">${text(s.detail)}</span>` : '';
  const retry = s.retry ? '<button type="button" data-act="retry">Retry</button>' : '';
  const discard = s.discard ? '<button type="button" data-act="discard">Discard</button>' : '';
  return `<div class="status s-${escapeHtml(s.state)}" role="status"><span class="status-label">${escapeHtml(s.label)}</span>${detail}${retry}${discard}</div>`;
}

function renderBody(item: MessageItem): { html: string; env: Env } {
  const env: Env = { code: [], links: [] };
  if (item.text === null) return { html: '<p class="undecryptable">This message could not be decrypted.</p>', env };
  const { renderMarkdown, codeBlockHtml } = md();
  if (!item.snippet) return { html: renderMarkdown(item.text, env).html, env };
  const { before, snippet, after } = item.snippet;
  const lines = snippet.start === snippet.end ? `line ${snippet.start}` : `lines ${snippet.start}–${snippet.end}`;
  const parts = [before ? renderMarkdown(before, env).html : ''];
  parts.push(
    `<div class="snippet" role="group" aria-label="Snippet from ${text(snippet.path)}, ${lines}">` +
      `<div class="snippet-bar"><span class="snippet-path">${text(snippet.path)}</span><span class="snippet-lines">${lines}</span>` +
      `<button type="button" data-act="open-snippet">Open at ${lines.startsWith('line ') ? 'line' : 'lines'}</button></div>` +
      codeBlockHtml(snippet.code, snippet.language, env) +
      `</div>`,
  );
  if (after) parts.push(renderMarkdown(after, env).html);
  return { html: parts.join(''), env };
}
