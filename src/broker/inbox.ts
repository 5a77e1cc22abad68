/**
 * Received messages: deduped by `client_message_id ?? messageId` (the broker delivers at least once and has no
 * dedupe of its own) and kept as a bounded history, one store record per message.
 */
import type { KeyValueStore } from './store';
import type { InboundMessage } from './types';

export interface InboxOptions {
  meshId: string;
  store: KeyValueStore;
  /** Messages kept; the oldest are deleted beyond this. Also the dedupe window. */
  maxHistory?: number;
}

interface StoredMessage extends InboundMessage {
  seq: number;
}

export class Inbox {
  private readonly prefix: string;
  private readonly maxHistory: number;
  private readonly messages: StoredMessage[] = [];
  private readonly ids = new Set<string>();
  private nextSeq = 1;
  private readonly adding = new Set<Promise<boolean>>();

  constructor(private readonly opts: InboxOptions) {
    this.prefix = `claudemesh.inbox/${opts.meshId}/`;
    this.maxHistory = opts.maxHistory ?? 1_000;
    const loaded: StoredMessage[] = [];
    for (const key of opts.store.keys()) {
      if (!key.startsWith(this.prefix)) continue;
      const message = opts.store.get<StoredMessage>(key);
      if (message && typeof message.id === 'string' && typeof message.seq === 'number') loaded.push(message);
    }
    loaded.sort((a, b) => a.seq - b.seq);
    for (const message of loaded) this.remember(message);
  }

  get history(): readonly InboundMessage[] {
    return this.messages;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  /**
   * Persists a new message; returns false (and stores nothing) for a duplicate. When the write fails the id is
   * forgotten again and the error is thrown, so the caller sends no client_ack and the broker's redelivery (after
   * its lease) gets another chance instead of being taken for a duplicate.
   */
  async add(message: InboundMessage): Promise<boolean> {
    const adding = this.write(message);
    this.adding.add(adding);
    try {
      return await adding;
    } finally {
      this.adding.delete(adding);
    }
  }

  /** Resolves once every add() started so far has been written (or has failed). */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.adding]);
  }

  private async write(message: InboundMessage): Promise<boolean> {
    if (this.ids.has(message.id)) return false;
    const stored: StoredMessage = { ...message, seq: this.nextSeq };
    this.remember(stored);
    const written = Promise.resolve(this.opts.store.update(this.keyOf(stored), stored)).catch((err: unknown) => {
      const i = this.messages.lastIndexOf(stored);
      if (i >= 0) this.messages.splice(i, 1);
      this.ids.delete(stored.id);
      throw err;
    });
    // Beyond the bound the oldest go, deleted in the same turn as the new one is written: a history log then makes it
    // one append, where deleting after the write would be a second one that the message event and the ack wait for.
    const writes: PromiseLike<void>[] = [written];
    while (this.messages.length > this.maxHistory) {
      const oldest = this.messages.shift()!;
      this.ids.delete(oldest.id);
      writes.push(this.opts.store.update(this.keyOf(oldest), undefined));
    }
    await Promise.all(writes);
    return true;
  }

  private remember(message: StoredMessage): void {
    this.messages.push(message);
    this.ids.add(message.id);
    this.nextSeq = message.seq + 1;
  }

  private keyOf(message: StoredMessage): string {
    return this.prefix + String(message.seq).padStart(12, '0');
  }
}
