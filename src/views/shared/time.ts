/**
 * How long ago something happened, in our words. No `vscode` and no Node import: the chat panel's page script
 * (src/views/chat/page.js) is bundled with this same function, so the label the extension renders first and the one
 * the page keeps current as time passes are always the same text.
 */

/** "3 min ago" style; `now` is a parameter so callers and tests agree on it. */
export function ago(timestamp: number, now = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - timestamp) / 1000));
  if (seconds < 60) return 'just now';
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.round(hours / 24)} days ago`;
}
