/**
 * A shared snippet travels as plain text every peer can read (a Claude Code session sees ordinary Markdown):
 *
 *     src/a.ts:2-3
 *     ```typescript
 *     const x = 1;
 *     ```
 *
 * formatSnippet writes it (Send Selection), parseSnippet finds the first one in a message for the chat panel's card.
 * The path and language are untrusted when they come from a peer: parseSnippet only checks their shape, the panel
 * decides whether the path names a file in this workspace, and the language is a label, never a language mode.
 */
export interface Snippet {
  /** Workspace-relative, `/`-separated. */
  path: string;
  /** 1-based, inclusive. */
  start: number;
  end: number;
  /** Empty for plain text. */
  language: string;
  code: string;
}

export function formatSnippet(snippet: Snippet): string {
  const longestRun = Math.max(0, ...(snippet.code.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(Math.max(3, longestRun + 1));
  const lines = snippet.start === snippet.end ? `${snippet.start}` : `${snippet.start}-${snippet.end}`;
  return `${snippet.path}:${lines}\n${fence}${snippet.language}\n${snippet.code.replace(/\n$/, '')}\n${fence}`;
}

const HEADER = /^([^\s`][^\u0000-\u001f`]{0,299}):(\d{1,7})(?:-(\d{1,7}))?$/;
const OPENING = /^(`{3,})([\w+#.-]{0,40})$/;

/** The first snippet in `text`, with the text around it; undefined when there is none (or its fence never closes). */
export function parseSnippet(text: string): { before: string; snippet: Snippet; after: string } | undefined {
  if (!text.includes('\n```')) return undefined;
  // Line by line and stopping at the first header followed by a fence: linear in the message length, whatever it holds.
  let lineStart = 0;
  while (lineStart < text.length) {
    const lineEnd = indexOrEnd(text, '\n', lineStart);
    const header = HEADER.exec(text.slice(lineStart, lineEnd));
    const nextEnd = indexOrEnd(text, '\n', lineEnd + 1);
    const opening = header && lineEnd < text.length ? OPENING.exec(text.slice(lineEnd + 1, nextEnd)) : null;
    if (header && opening) {
      const fence = opening[1];
      const codeStart = nextEnd + 1;
      const close = findClosingFence(text, fence, nextEnd);
      if (close < 0) return undefined;
      const start = Number(header[2]);
      const end = header[3] ? Number(header[3]) : start;
      if (start < 1 || end < start) return undefined;
      const closeEnd = indexOrEnd(text, '\n', close + 1);
      return {
        before: text.slice(0, lineStart).replace(/\s+$/, ''),
        snippet: { path: header[1], start, end, language: opening[2], code: close + 1 > codeStart ? text.slice(codeStart, close) : '' },
        after: text.slice(closeEnd + 1).replace(/^\s+/, ''),
      };
    }
    lineStart = lineEnd + 1;
  }
  return undefined;
}

/** Index of the newline before the closing fence line (exactly `fence`, maybe trailing blanks), or -1. */
function findClosingFence(text: string, fence: string, from: number): number {
  let at = text.indexOf('\n' + fence, from);
  while (at >= 0) {
    const lineEnd = indexOrEnd(text, '\n', at + 1);
    if (text.slice(at + 1 + fence.length, lineEnd).trim() === '') return at;
    at = text.indexOf('\n' + fence, at + 1);
  }
  return -1;
}

function indexOrEnd(text: string, search: string, from: number): number {
  const at = text.indexOf(search, from);
  return at < 0 ? text.length : at;
}

/**
 * Whether a peer's snippet path may name a file under a workspace folder: relative, `/`-separated, no `.` or `..`
 * segment, no drive letter, scheme or backslash. The panel still resolves it inside the folder before opening.
 */
export function isSafeRelativePath(path: string): boolean {
  if (!path || path.startsWith('/') || path.includes('\\') || /^[a-zA-Z]:/.test(path) || /[\u0000-\u001f]/.test(path)) return false;
  return path.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}
