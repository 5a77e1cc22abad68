/**
 * THE rule for text that came from outside the extension: peer names, summaries, profiles, groups, message bodies,
 * skills, memories, shared-state keys and values, mesh slugs from invites, broker and server error strings.
 *
 * Such text may be shown, never obeyed. No surface may turn it into a command link, rendered HTML, an image fetch, a
 * `$(codicon)`, a file path or a language choice. Each surface has one function here, and every place that shows
 * outside text calls the one for its surface:
 *
 * - `inline`   one line: tree labels and descriptions, quick-pick items, input-box titles, accessibility labels,
 *              and every value interpolated into a notification (through `say`, in notify.ts);
 * - `block`    several lines of a plain-string tooltip;
 * - `markdown` a value inside a MarkdownString we build (the status bar tooltip): `inline`, then Markdown-escaped;
 * - `documentLine` / `documentText` / `documentJson`  a header line, the body, a JSON value of a read-only
 *              `claudemesh:` document.
 *
 * What each one does, and why:
 * - any value becomes a string (a peer can send a number, an object, 40 KB), cut to a length the surface can show;
 * - bidi overrides and invisible format characters become a visible `[U+202E]`, so text cannot reorder or hide itself;
 *   other control characters likewise; `inline` also flattens line breaks;
 * - `](` becomes `] (`: notifications, tree messages and Markdown render `[label](command:…)` as a link;
 * - `$(` becomes `$ (`: quick picks, the status bar and input titles render `$(name)` as an icon;
 * - in documents, `scheme://` and `command:` lose their colon to `[:]`: the editor makes http, https and file URLs
 *   Ctrl+clickable in any language, and a file link opens a path the peer chose. Documents never use a peer's name as
 *   file name or extension, and always start with a line of our own (languages are also guessed from the first line);
 *   see documents.ts.
 * HTML needs no rule of its own: no surface renders HTML (MarkdownStrings never set supportHtml), and `markdown`
 * escapes `<` anyway. Nothing here imports vscode, so any surface (the chat webview too) can use it.
 */

/** Bidi embeddings, overrides and isolates, the Arabic letter mark, zero-width and other invisible format characters. */
const INVISIBLE = /[\u061c\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ufff9-\ufffb]/g;
/** C0 (except tab and line breaks), DEL and C1 controls. */
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g;
/** What a document may show of one peer-authored text; more is cut with a note. */
export const DOCUMENT_MAX = 200_000;

function visible(char: string): string {
  return `[U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}]`;
}

/** Any value as text: strings as they are, other values as (at most `max` characters of) JSON. */
export function asText(value: unknown, max = DOCUMENT_MAX): string {
  if (typeof value === 'string') return value;
  if (value === undefined || value === null) return '';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  try {
    // JSON.stringify gives undefined only for a function or a symbol, which no broker frame holds; name its type.
    return (JSON.stringify(value) ?? typeof value).slice(0, max);
  } catch {
    return '[a value that cannot be shown]';
  }
}

/** Cuts to `max` characters (with an ellipsis), never in the middle of a surrogate pair. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  if (/[\ud800-\udbff]/.test(text[end - 1] ?? '')) end--;
  return text.slice(0, end) + '…';
}

function showHidden(text: string): string {
  return text.replace(INVISIBLE, visible).replace(CONTROL, visible);
}

function defuse(text: string): string {
  return text.replace(/\]\s*\(/g, '] (').replace(/\$\(/g, '$ (');
}

/** One line of outside text for a label, description, quick-pick item, title or notification value. */
export function inline(value: unknown, max = 120): string {
  // Cut generously first so a 40 KB value costs nothing, then flatten, mark and cut to size.
  const text = asText(value, max * 4).slice(0, max * 4);
  return cut(defuse(showHidden(text.replace(/\s+/g, ' ').trim())), max);
}

/** Several lines of outside text for a plain-string tooltip. */
export function block(value: unknown, max = 2000): string {
  const text = asText(value, max * 2).slice(0, max * 2);
  return cut(defuse(showHidden(text.replace(/\r\n?/g, '\n').replace(/\t/g, '  '))), max);
}

/** Backslash-escapes every ASCII punctuation character (all CommonMark allows) and flattens newlines. */
export function escapeMarkdown(text: string): string {
  return text.replace(/\r?\n|\r/g, ' ').replace(/[!-/:-@[-`{-~]/g, '\\$&');
}

/** Outside text inside a MarkdownString that we build: one safe line, then every Markdown character escaped. */
export function markdown(value: unknown, max = 200): string {
  return escapeMarkdown(inline(value, max));
}

function defang(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*):(?=\/\/)|\b(command|vscode[a-z-]*|javascript|data):/gi, (_match, scheme: string | undefined, other: string | undefined) => `${scheme ?? other}[:]`);
}

/** Peer-authored text (a message, a skill's instructions, a memory) as the body of a read-only plain-text document. */
export function documentText(value: unknown, max = DOCUMENT_MAX): string {
  const text = asText(value, max);
  const shown = text.length > max ? `${text.slice(0, max)}\n[… ${text.length - max} more characters not shown]` : text;
  return defang(showHidden(shown.replace(/\r\n?/g, '\n')));
}

/** One line of outside text inside a document (a header field, a sender's name). */
export function documentLine(value: unknown, max = 120): string {
  return defang(inline(value, max));
}

/**
 * A JSON value for a `json` document. Strings are JSON-escaped where they would hide or link: invisible characters as
 * `\uXXXX` and `://` as `:\/\/`, both of which still parse to the same value. The caller wraps the value in an object of
 * its own, so a peer's `$schema` is never the document's (the JSON language fetches the root's `$schema` URL).
 */
export function documentJson(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value, null, 2) ?? 'null';
  } catch {
    text = '"[a value that cannot be shown]"';
  }
  return text
    .replace(INVISIBLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .replace(/:\/\//g, ':\\/\\/')
    .replace(/\b(command|vscode[a-z-]*|javascript|data):/gi, '$1\\u003a');
}
