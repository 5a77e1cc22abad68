/**
 * The log tells the story of a session at info level: who joined, came back or left, and what happened to each
 * message the user sent (held for an offline peer, resent, delivered, failed). It names messages by id and recipient,
 * never by their text, and holds no secret. (Connection changes and their reasons are logged where they happen, in
 * shared/ctx.ts; a broadcast that may not have been sent and a DM that was not delivered, in the outbox.)
 */
import type * as vscode from 'vscode';
import type { MeshClientApi, OutboxRow, PresenceEvent } from '../broker/types';
import { PRESENCE_VERB } from './shared/text';
import { inline } from './shared/untrusted';

export class ActivityLog {
  /** The status each row had at the last outbox change, to log transitions only. */
  private readonly seen = new Map<string, { status: OutboxRow['status']; attempts: number }>();

  constructor(
    private readonly client: MeshClientApi,
    private readonly log: vscode.LogOutputChannel,
  ) {
    for (const row of client.outbox) this.seen.set(row.clientMessageId, { status: row.status, attempts: row.attempts });
  }

  presence(event: PresenceEvent): void {
    const verb = PRESENCE_VERB[event.event];
    if (!verb || event.pubkey === this.client.sessionPubkey) return;
    this.log.info(`${this.slug}: ${inline(event.name || 'a peer', 80)} ${verb} the mesh`);
  }

  outbox(rows: readonly OutboxRow[]): void {
    const current = new Set<string>();
    for (const row of rows) {
      current.add(row.clientMessageId);
      const before = this.seen.get(row.clientMessageId);
      this.seen.set(row.clientMessageId, { status: row.status, attempts: row.attempts });
      if (before?.status === row.status && before.attempts === row.attempts) continue;
      const what = `${this.slug}: message ${row.clientMessageId} to ${inline(row.targetLabel, 80)}`;
      if (row.status === 'held' && before?.status !== 'held') this.log.info(`${what} is held until the peer is online`);
      else if (row.status === 'delivered') this.log.info(`${what} delivered`);
      else if (row.status === 'failed') this.log.info(`${what} failed: ${inline(row.lastError ?? 'no reason given', 200)}`);
      // The outbox counts an attempt as each send starts: a second one is a resend.
      else if (row.status === 'sending' && row.attempts > 1) this.log.info(`${what} resent (attempt ${row.attempts})`);
    }
    for (const id of this.seen.keys()) if (!current.has(id)) this.seen.delete(id);
  }

  private get slug(): string {
    return inline(this.client.mesh.slug, 60);
  }
}
