/**
 * Small text helpers for our own UI strings. Text from peers, the broker or a server goes through untrusted.ts
 * before it reaches any surface.
 */

/** One line, at most `max` characters, for descriptions, toasts and quick picks. */
export function preview(text: string, max = 80): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? line.slice(0, max - 1) + '…' : line;
}

export function shortKey(pubkey: string): string {
  return pubkey.length > 12 ? `${pubkey.slice(0, 8)}…` : pubkey;
}

export function plural(count: number, one: string, many = one + 's'): string {
  return `${count} ${count === 1 ? one : many}`;
}

/** JSON for a one-line value preview, or the error text when the value cannot be serialised. */
export function jsonPreview(value: unknown, max = 60): string {
  try {
    return preview(JSON.stringify(value) ?? String(value), max);
  } catch (err) {
    return `(${(err as Error).message})`;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** "3 min ago" style, for tooltips; `now` is a parameter so callers and tests agree on it. */
export function ago(timestamp: number, now = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - timestamp) / 1000));
  if (seconds < 60) return 'just now';
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.round(hours / 24)} days ago`;
}
