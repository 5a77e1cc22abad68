/**
 * The chat panel's view model: a conversation's entries as the list the page shows (day separators, the unread
 * marker, messages grouped by sender, the status of what the user sent, snippet cards). Plain data, no vscode import,
 * so the unit tests and the bench build it directly.
 */
import type { OutboxRow, Priority } from '../../broker/types';
import type { ConversationEntry } from '../conversations/model';
import { parseSnippet, Snippet } from './snippet';

export interface StatusView {
  /** The outbox row's status (or a delivery state the broker client adds later): also the CSS class. */
  state: string;
  label: string;
  /** The error or the reason, when there is one. */
  detail?: string;
  retry: boolean;
  discard: boolean;
}

export interface MessageItem {
  type: 'message';
  key: string;
  direction: 'in' | 'out';
  from: string;
  at: number;
  /** null when an inbound body could not be decrypted. */
  text: string | null;
  priority: Priority;
  /** Same sender as the message before, within GROUP_MS on the same day: shown without its own header. */
  continued: boolean;
  status?: StatusView;
  snippet?: { before: string; snippet: Snippet; after: string };
  /** The outbox row id, for Retry and Discard. */
  clientMessageId?: string;
}

export type ChatItem = { type: 'day'; key: string; label: string } | { type: 'unread'; key: string } | MessageItem;

export interface ModelInput {
  entries: readonly ConversationEntry[];
  /** Inbound messages received after this are unread (the read marker as it was when the panel opened). */
  unreadAfter: number;
  /** Who a held DM waits for, e.g. "Ada". */
  recipient: string;
  /** Whether the mesh is connected: a queued message says when it will go. */
  online: boolean;
  now: number;
}

const GROUP_MS = 5 * 60_000;

export function outgoingStatus(row: OutboxRow, recipient: string, online: boolean): StatusView {
  switch (row.status) {
    case 'queued':
      return { state: 'queued', label: online ? 'queued' : 'queued · goes out once connected', retry: false, discard: true };
    case 'sending':
      return { state: 'sending', label: 'sending', retry: false, discard: false };
    case 'sent':
      return { state: 'sent', label: 'sent', retry: false, discard: false };
    case 'delivered':
      return { state: 'delivered', label: 'delivered', retry: false, discard: false };
    case 'not_delivered':
      return { state: 'not_delivered', label: 'not delivered', detail: row.notDeliveredReason, retry: false, discard: true };
    case 'held':
      return { state: 'held', label: `held · waits for ${row.recipient?.name ?? recipient} to come online`, detail: row.lastError, retry: true, discard: true };
    case 'unknown':
      return { state: 'unknown', label: 'may not have been sent', detail: row.lastError, retry: true, discard: true };
    case 'failed':
      return { state: 'failed', label: 'failed', detail: row.lastError ?? 'unknown error', retry: true, discard: true };
    default:
      // A state this build does not know yet: show its name rather than nothing.
      return { state: String(row.status).replace(/[^\w-]/g, ''), label: String(row.status), detail: row.lastError, retry: false, discard: false };
  }
}

export function dayLabel(at: number, now: number): string {
  const day = startOfDay(at);
  const today = startOfDay(now);
  if (day === today) return 'Today';
  if (day === startOfDay(today - 1)) return 'Yesterday';
  const sameYear = new Date(at).getFullYear() === new Date(now).getFullYear();
  return (sameYear ? DAY : DAY_AND_YEAR).format(at);
}

const DAY = new Intl.DateTimeFormat('en-US', { weekday: 'short', day: 'numeric', month: 'short' });
const DAY_AND_YEAR = new Intl.DateTimeFormat('en-US', { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' });

function startOfDay(at: number): number {
  const d = new Date(at);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/** The stable identity of an entry: the broker id of what arrived, the client id of what was sent. */
export function entryKey(entry: ConversationEntry): string {
  return entry.row ? `out:${entry.row.clientMessageId}` : `in:${entry.message?.brokerMessageId || entry.message?.id || entry.at}`;
}

/** The list built from scratch: what ChatItems keeps up to date. */
export function buildItems(input: ModelInput): ChatItem[] {
  const list = new ChatItems();
  list.update(input);
  return list.items;
}

/**
 * One open conversation's items, kept up to date. When the conversation only grew at the end (a message arrived) and
 * nothing else the existing items depend on changed, only the new entries are turned into items: a new message costs
 * the same at 10 and at 1,000 messages of history. Anything else (an outbox change, which rebuilds the conversation;
 * going on or offline; a new day; the unread line moving) builds the list again.
 */
export class ChatItems {
  items: ChatItem[] = [];
  private entries: readonly ConversationEntry[] | undefined;
  private count = 0;
  private last: ConversationEntry | undefined;
  /** What every status label and day label was made for: recipient, online, today. */
  private context = '';
  // Where the walk through the entries stopped, so it can go on from there.
  private lastDay = -1;
  private nextDay = -Infinity;
  private previous: MessageItem | undefined;
  private unreadPlaced = false;
  /** When the message with the unread line above it arrived. */
  private unreadAt = 0;
  /** The newest inbound message above the unread line (or of all, when there is none). */
  private readBefore = 0;

  /** Whether the unread line is shown. */
  get hasUnreadLine(): boolean {
    return this.unreadPlaced;
  }

  /** Brings `items` up to date with `input`; returns how many items at the start are the same as before. */
  update(input: ModelInput): number {
    const context = `${input.recipient}\n${input.online}\n${startOfDay(input.now)}`;
    const grew =
      input.entries === this.entries &&
      input.entries.length >= this.count &&
      (this.count === 0 || input.entries[this.count - 1] === this.last) &&
      context === this.context &&
      // The unread line goes above the first inbound message after unreadAfter: it stays where it is.
      this.readBefore <= input.unreadAfter &&
      (!this.unreadPlaced || this.unreadAt > input.unreadAfter);
    const kept = grew ? this.items.length : 0;
    if (!grew) this.restart(input, context);
    for (let i = this.count; i < input.entries.length; i++) this.add(input.entries[i], input);
    this.count = input.entries.length;
    this.last = input.entries[this.count - 1];
    return kept;
  }

  private restart(input: ModelInput, context: string): void {
    this.items = [];
    this.entries = input.entries;
    this.count = 0;
    this.context = context;
    this.lastDay = -1;
    this.nextDay = -Infinity;
    this.previous = undefined;
    this.unreadPlaced = false;
    this.unreadAt = 0;
    this.readBefore = 0;
  }

  private add(entry: ConversationEntry, input: ModelInput): void {
    const items = this.items;
    // Entries come in time order: the day boundaries are worked out once per day, not once per message.
    if (entry.at >= this.nextDay || entry.at < this.lastDay) {
      const day = startOfDay(entry.at);
      if (day !== this.lastDay) {
        items.push({ type: 'day', key: `day:${day}`, label: dayLabel(entry.at, input.now) });
        this.previous = undefined;
      }
      this.lastDay = day;
      this.nextDay = startOfDay(day + 36 * 3_600_000);
    }
    if (!this.unreadPlaced && entry.direction === 'in') {
      if (entry.at > input.unreadAfter) {
        items.push({ type: 'unread', key: 'unread' });
        this.unreadPlaced = true;
        this.unreadAt = entry.at;
        this.previous = undefined;
      } else {
        this.readBefore = Math.max(this.readBefore, entry.at);
      }
    }
    const previous = this.previous;
    const item: MessageItem = {
      type: 'message',
      key: entryKey(entry),
      direction: entry.direction,
      from: entry.from,
      at: entry.at,
      text: entry.text,
      priority: entry.row?.priority ?? entry.message?.priority ?? 'next',
      continued: !!previous && previous.from === entry.from && previous.direction === entry.direction && entry.at - previous.at < GROUP_MS,
    };
    if (entry.row) {
      item.status = outgoingStatus(entry.row, input.recipient, input.online);
      item.clientMessageId = entry.row.clientMessageId;
    }
    const snippet = entry.text === null ? undefined : parseSnippet(entry.text);
    if (snippet) item.snippet = snippet;
    items.push(item);
    this.previous = item;
  }
}
