/**
 * Small text helpers for our own UI strings. Text from peers, the broker or a server goes through untrusted.ts
 * before it reaches any surface.
 */
import type { PresenceEvent } from '../../broker/types';
import { ago } from './time';

/** What a presence event says a peer did, as a verb before a mesh ("joined team", "is back on team", "left team"). */
export const PRESENCE_VERB: Partial<Record<PresenceEvent['event'], string>> = {
  peer_joined: 'joined',
  peer_returned: 'is back on',
  peer_left: 'left',
};

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

/**
 * A broker timestamp for a tooltip: relative, with the absolute local time beside it ("3 min ago, 2 Dec 01:52").
 * What the broker sent is outside text: anything that is not a date comes back empty, for the caller to leave out.
 */
export function when(iso: string | undefined, now = Date.now()): string {
  const at = iso ? Date.parse(iso) : NaN;
  if (Number.isNaN(at)) return '';
  const absolute = new Date(at).toLocaleString(undefined, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
  return `${ago(at, now)}, ${absolute}`;
}

/**
 * Who wrote shared state, a skill or a memory, as the broker says it: a *member* name, which can differ from the
 * session names in Peers. Sessions whose name matches are named beside it. The result is raw: callers apply the
 * rule for their surface.
 */
export function memberLabel(name: string | undefined, peers: readonly { displayName: string; hostname?: string }[]): string {
  if (!name) return 'an unknown member';
  const live = peers.filter((p) => p.displayName === name);
  const where = live.map((p) => p.hostname).filter(Boolean);
  return live.length ? `member ${name} (online${where.length ? ` on ${where.join(', ')}` : ''})` : `member ${name}`;
}
