/**
 * The small rules every chat module shares, kept apart from markdown.ts so the extension can check a link or escape a
 * name without loading markdown-it (it loads with the first chat panel, not at activation).
 */
const ALLOWED_LINK = /^(https:\/\/[^\s]+|mailto:[^\s]+)$/i;

/** True for the only link targets a peer may offer: https: and mailto:. */
export function isAllowedLink(url: string): boolean {
  return ALLOWED_LINK.test(url);
}

/**
 * Bidi embeddings, overrides and isolates, direction marks, zero-width and other invisible format characters (the set
 * shared/untrusted.ts marks on the other surfaces): each becomes a visible mark like ⟦U+202E⟧, so a name or link text cannot
 * reorder or hide what the reader sees. Brackets unlike Markdown's, so a mark can never become part of a link.
 */
const INVISIBLE = /[\u061c\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ufff9-\ufffb]/g;

export function showBidiControls(text: string): string {
  return text.replace(INVISIBLE, (c) => `⟦U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}⟧`);
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}
