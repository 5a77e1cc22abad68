/**
 * Where conversation history lives when the outbox's store is one that rewrites itself whole on every change.
 *
 * VS Code's workspaceState is such a store: the extension host keeps one object per extension and sends all of it to
 * be stringified on every flush. So history (received messages, and sent messages once the broker has them) goes to
 * a `LogStore` instead: one append-only file of JSON lines per mesh, where a change costs one line. The workspace
 * store keeps only the rows that still need something (queued, sending, held, failed, …): small and bounded.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { KeyValueStore } from './store';
import type { Logger, OutboxRow } from './types';

export interface LogStoreOptions {
  /** Live records beyond this many bytes: the ones written longest ago are dropped at the next compaction. */
  maxBytes?: number;
  log?: Logger;
}

/**
 * A KeyValueStore kept as an append-only log of `{"k":key,"v":value}` lines (`{"k":key}` deletes). Every record is
 * also held in memory, so reads never touch the disk. Writes made in one tick go out as one append. The file is
 * rewritten (to a temp file, then renamed over it) once dead lines outweigh live ones, or live ones pass `maxBytes`.
 * A torn last line (a crash mid-append) is skipped when loading, and the next write rewrites the file without it.
 */
export class LogStore implements KeyValueStore {
  /** Key → its line, in the order last written (a re-written key moves to the end), so the oldest go first. */
  private readonly lines = new Map<string, string>();
  private liveBytes = 0;
  private fileBytes = 0;
  private pending: string[] = [];
  private waiting: { resolve(): void; reject(err: Error): void }[] = [];
  private scheduled = false;
  private chain: Promise<void> = Promise.resolve();
  private needsRewrite = false;
  private readonly maxBytes: number;
  /** What compaction and appends have written in total, for the benchmark. */
  bytesWritten = 0;

  constructor(
    readonly file: string,
    private readonly opts: LogStoreOptions = {},
  ) {
    this.maxBytes = opts.maxBytes ?? 16 * 1024 * 1024;
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') opts.log?.warn(`history: could not read ${path.basename(file)}: ${(err as Error).message}`);
    }
    this.fileBytes = Buffer.byteLength(text);
    let skipped = 0;
    for (const line of text.split('\n')) {
      if (!line) continue;
      let record: { k?: unknown; v?: unknown };
      try {
        record = JSON.parse(line) as { k?: unknown; v?: unknown };
      } catch {
        skipped++;
        continue;
      }
      if (typeof record?.k !== 'string') {
        skipped++;
        continue;
      }
      this.forget(record.k);
      if (record.v !== undefined) this.remember(record.k, line);
    }
    if (skipped) {
      opts.log?.warn(`history: skipped ${skipped} unreadable line(s) in ${path.basename(file)} (a write cut short by a crash); it will be rewritten`);
      this.needsRewrite = true;
    } else if (text && !text.endsWith('\n')) {
      this.needsRewrite = true;
    }
  }

  keys(): readonly string[] {
    return [...this.lines.keys()];
  }

  get<T>(key: string): T | undefined {
    const line = this.lines.get(key);
    return line === undefined ? undefined : ((JSON.parse(line) as { v: T }).v);
  }

  update(key: string, value: unknown): Promise<void> {
    this.forget(key);
    const line = value === undefined ? JSON.stringify({ k: key }) : JSON.stringify({ k: key, v: value });
    if (value !== undefined) this.remember(key, line);
    this.pending.push(line);
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => this.writeBatch());
    });
  }

  /** Resolves when everything written so far is on disk. */
  async flush(): Promise<void> {
    while (this.scheduled) await new Promise((resolve) => setImmediate(resolve));
    await this.chain;
  }

  private remember(key: string, line: string): void {
    this.lines.set(key, line);
    this.liveBytes += line.length + 1;
  }

  private forget(key: string): void {
    const old = this.lines.get(key);
    if (old === undefined) return;
    this.lines.delete(key);
    this.liveBytes -= old.length + 1;
  }

  private writeBatch(): void {
    this.scheduled = false;
    const text = this.pending.join('\n') + '\n';
    const waiting = this.waiting;
    this.pending = [];
    this.waiting = [];
    this.chain = this.chain.then(async () => {
      try {
        if (this.needsRewrite || this.shouldCompact(text.length)) {
          await this.compact();
        } else {
          await fs.promises.mkdir(path.dirname(this.file), { recursive: true });
          await fs.promises.appendFile(this.file, text);
          this.fileBytes += text.length;
          this.bytesWritten += text.length;
        }
        for (const w of waiting) w.resolve();
      } catch (err) {
        this.opts.log?.error(`history: could not write ${path.basename(this.file)}: ${(err as Error).message}`);
        for (const w of waiting) w.reject(err as Error);
      }
    });
  }

  /** Dead lines outweigh live ones (amortised: each compaction is paid for by as many appends), or over the bound. */
  private shouldCompact(adding: number): boolean {
    return this.liveBytes > this.maxBytes || (this.fileBytes + adding > 2 * this.liveBytes && this.fileBytes + adding > 64 * 1024);
  }

  /** Writes the live records (the newest `maxBytes` of them) to a temp file and renames it over the log. */
  private async compact(): Promise<void> {
    for (const key of this.lines.keys()) {
      if (this.liveBytes <= this.maxBytes) break;
      this.forget(key);
    }
    const text = this.lines.size ? [...this.lines.values()].join('\n') + '\n' : '';
    const temp = `${this.file}.${process.pid}.tmp`;
    await fs.promises.mkdir(path.dirname(this.file), { recursive: true });
    await fs.promises.writeFile(temp, text);
    await fs.promises.rename(temp, this.file);
    this.fileBytes = text.length;
    this.bytesWritten += text.length;
    this.needsRewrite = false;
  }
}

const SETTLED: ReadonlySet<OutboxRow['status']> = new Set(['sent', 'delivered']);

/** Rows the broker has taken, which from then on are history: they go to the log, the rest stay in the workspace. */
export function isHistory(row: Pick<OutboxRow, 'status'>): boolean {
  return SETTLED.has(row.status);
}

type Stamped = OutboxRow & { storeRev?: number };

/**
 * The outbox's store: a row lives in `workspace` while it needs something and in `history` once it is settled. A row
 * can move back (a sent DM found not delivered, or redirected); each write is stamped with a revision so that, after a
 * crash between the write to one side and the delete on the other, loading keeps the newer copy.
 */
export class OutboxSplitStore implements KeyValueStore {
  private rev = 0;
  /** Which side holds each key now. */
  private readonly side = new Map<string, KeyValueStore>();

  constructor(
    prefix: string,
    private readonly workspace: KeyValueStore,
    private readonly history: KeyValueStore,
  ) {
    const found = new Map<string, { store: KeyValueStore; rev: number }>();
    for (const store of [workspace, history]) {
      for (const key of store.keys()) {
        if (!key.startsWith(prefix)) continue;
        const rev = store.get<Stamped>(key)?.storeRev ?? 0;
        this.rev = Math.max(this.rev, rev);
        const other = found.get(key);
        if (!other) {
          found.set(key, { store, rev });
          continue;
        }
        // Both sides have it: keep the newer; on a tie (rows from before revisions) the settled copy, which is later.
        const keepThis = rev > other.rev || (rev === other.rev && store === history);
        void (keepThis ? other.store : store).update(key, undefined);
        if (keepThis) found.set(key, { store, rev });
      }
    }
    for (const [key, { store }] of found) this.side.set(key, store);
  }

  keys(): readonly string[] {
    return [...this.side.keys()];
  }

  get<T>(key: string): T | undefined {
    const stamped = this.side.get(key)?.get<Stamped>(key);
    if (!stamped) return undefined;
    const { storeRev: _rev, ...row } = stamped;
    return row as T;
  }

  update(key: string, value: unknown): Promise<void> {
    const was = this.side.get(key);
    if (value === undefined) {
      this.side.delete(key);
      return Promise.resolve(was?.update(key, undefined));
    }
    const row = value as OutboxRow;
    const target = isHistory(row) ? this.history : this.workspace;
    this.side.set(key, target);
    const write = Promise.resolve(target.update(key, { ...row, storeRev: ++this.rev }));
    if (!was || was === target) return write;
    // Delete the old copy only once the new one is written, so a crash leaves two copies rather than none.
    return write.then(() => was.update(key, undefined));
  }
}

/**
 * One-time move of what earlier versions kept in the workspace store (every received message, and sent rows) into
 * the history store. Idempotent: once moved, nothing under these prefixes is left to move.
 */
export async function migrateHistory(meshId: string, workspace: KeyValueStore, history: KeyValueStore): Promise<number> {
  const inbox = `claudemesh.inbox/${meshId}/`;
  const outbox = `claudemesh.outbox/${meshId}/`;
  const moved: string[] = [];
  const writes: PromiseLike<void>[] = [];
  for (const key of workspace.keys()) {
    const value = key.startsWith(inbox) ? workspace.get(key) : key.startsWith(outbox) ? workspace.get<OutboxRow>(key) : undefined;
    if (value === undefined) continue;
    if (key.startsWith(outbox) && !isHistory(value as OutboxRow)) continue;
    writes.push(history.update(key, value));
    moved.push(key);
  }
  await Promise.all(writes);
  await Promise.all(moved.map((key) => workspace.update(key, undefined)));
  return moved.length;
}
