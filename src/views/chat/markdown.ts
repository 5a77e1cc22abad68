/**
 * Peer-written Markdown to HTML for the chat panel. Everything a peer writes is hostile, so this is the one place that
 * decides what may reach the page:
 * - raw HTML is off (markdown-it escapes it) and images are off (`![x](url)` stays text and a link, never a fetch);
 * - a link survives only as `https:` or `mailto:`, and is rendered without an `href`: the page cannot navigate, it can
 *   only ask the extension to open one of the links this message contains (the extension confirms first);
 * - bidi controls are shown as visible marks, so a name or link text cannot reorder what the reader sees;
 * - code blocks are escaped and carry Copy / Insert at Cursor buttons that name the block by index, not by content.
 * No vscode import: the view model, the bench and the sanitiser tests use it in plain Node.
 */
import MarkdownIt from 'markdown-it';
import { escapeHtml, isAllowedLink, showBidiControls } from './escape';

export interface RenderedText {
  html: string;
  /** The code blocks, in order: Copy and Insert at Cursor name a block by its index here. */
  code: string[];
  /** Every link target the HTML offers, already checked; the extension opens only these. */
  links: string[];
}

/** What several renderings of one message share, so code and link indices run on across them. */
export interface Env {
  code: string[];
  links: string[];
}

/** The info string is shown as a label only; it never picks a highlighter or a language mode. */
export function languageLabel(info: string): string {
  return info.trim().split(/\s+/)[0].replace(/[^\w+#.-]/g, '').slice(0, 24);
}

function block(content: string, info: string, env: Env): string {
  env.code.push(content.replace(/\n$/, ''));
  const index = env.code.length - 1;
  const language = languageLabel(info);
  return (
    `<div class="code" role="group" aria-label="${language ? `${escapeHtml(language)} code` : 'code'}">` +
    `<div class="code-bar"><span class="code-lang">${escapeHtml(language)}</span>` +
    `<button type="button" data-act="copy" data-code="${index}">Copy</button>` +
    `<button type="button" data-act="insert" data-code="${index}">Insert at Cursor</button></div>` +
    `<pre><code>${escapeHtml(content)}</code></pre></div>\n`
  );
}

function createRenderer(): MarkdownIt {
  const md = new MarkdownIt({ html: false, linkify: true, breaks: true, typographer: false });
  md.disable('image');
  md.validateLink = isAllowedLink;
  const rules = md.renderer.rules;

  rules.link_open = (tokens, idx, _options, env: Env) => {
    const href = tokens[idx].attrGet('href') ?? '';
    env.links.push(href);
    return `<a class="link" role="link" tabindex="0" data-link="${env.links.length - 1}" title="${escapeHtml(href)}">`;
  };
  rules.link_close = () => '</a>';

  rules.fence = (tokens, idx, _options, env: Env) => block(tokens[idx].content, md.utils.unescapeAll(tokens[idx].info), env);
  rules.code_block = (tokens, idx, _options, env: Env) => block(tokens[idx].content, '', env);
  // Table cell alignment would be an inline style, which the page's CSP refuses anyway: leave it out.
  for (const name of ['th_open', 'td_open'] as const) rules[name] = (tokens, idx) => `<${tokens[idx].tag}>`;
  return md;
}

const renderer = createRenderer();

/** Renders one message body; pass `env` to number code blocks and links on from an earlier part of the message. */
export function renderMarkdown(text: string, env: Env = { code: [], links: [] }): RenderedText {
  const html = renderer.render(showBidiControls(text), env);
  return { html, code: env.code, links: env.links };
}

/** A code block the page shows with Copy and Insert at Cursor, for code that is not inside Markdown (snippet cards). */
export function codeBlockHtml(code: string, language: string, env: Env): string {
  return block(showBidiControls(code), language, env);
}
