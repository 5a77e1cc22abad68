import * as fs from 'fs';
import * as path from 'path';

/**
 * The persistence the client needs, shaped like vscode.Memento so a Memento fits as is. The client keeps one key per
 * record and updates only the records that changed; what one update costs is the store's affair (a Memento rewrites
 * its whole state each time, which is why the extension keeps history in a LogStore, history.ts, not in one).
 */
export interface KeyValueStore {
  keys(): readonly string[];
  get<T>(key: string): T | undefined;
  /** Setting `undefined` deletes the key. */
  update(key: string, value: unknown): PromiseLike<void>;
}

export class MemoryStore implements KeyValueStore {
  private readonly map = new Map<string, string>();
  /** Counters the benchmark and tests read: how many writes, and how many bytes they carried. */
  writes = 0;
  bytesWritten = 0;

  keys(): readonly string[] {
    return [...this.map.keys()];
  }

  get<T>(key: string): T | undefined {
    const raw = this.map.get(key);
    return raw === undefined ? undefined : (JSON.parse(raw) as T);
  }

  update(key: string, value: unknown): Promise<void> {
    this.writes++;
    if (value === undefined) {
      this.map.delete(key);
    } else {
      const raw = JSON.stringify(value);
      this.bytesWritten += raw.length;
      this.map.set(key, raw);
    }
    return Promise.resolve();
  }
}

/**
 * A store backed by one file per key in a folder, for plain-Node scripts and restart tests.
 * Writes go to a temp file that is then renamed, so a crash never leaves a half-written record.
 */
export class FileStore implements KeyValueStore {
  private readonly cache = new Map<string, unknown>();
  /** Writes to one key are chained so the last update() is the one left on disk. */
  private readonly pending = new Map<string, Promise<void>>();

  constructor(private readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    for (const name of fs.readdirSync(dir)) {
      if (!name.endsWith('.json')) continue;
      try {
        this.cache.set(decodeURIComponent(name.slice(0, -5)), JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')));
      } catch {
        // An unreadable record is skipped rather than taking the whole store down.
      }
    }
  }

  keys(): readonly string[] {
    return [...this.cache.keys()];
  }

  get<T>(key: string): T | undefined {
    return this.cache.get(key) as T | undefined;
  }

  update(key: string, value: unknown): Promise<void> {
    const file = path.join(this.dir, encodeURIComponent(key) + '.json');
    const raw = value === undefined ? undefined : JSON.stringify(value);
    if (raw === undefined) this.cache.delete(key);
    else this.cache.set(key, JSON.parse(raw));
    const write = async () => {
      if (raw === undefined) {
        await fs.promises.rm(file, { force: true });
      } else {
        await fs.promises.writeFile(file + '.tmp', raw);
        await fs.promises.rename(file + '.tmp', file);
      }
    };
    const next = (this.pending.get(key) ?? Promise.resolve()).then(write, write);
    this.pending.set(key, next);
    // The caller gets `next` and its failure; this bookkeeping branch must not reject a second time, unhandled.
    const settled = () => {
      if (this.pending.get(key) === next) this.pending.delete(key);
    };
    next.then(settled, settled);
    return next;
  }
}

/** The per-mesh records the client keeps: `<prefix><meshId>/…` (outbox rows, inbox) or `<prefix><meshId>` (markers). */
const PER_MESH_PREFIXES = ['claudemesh.outbox/', 'claudemesh.inbox/', 'claudemesh.readMarkers/'];

/**
 * Deletes what the client stored for meshes that are no longer joined (not in `joined`); returns how many records.
 * Call it only with a complete list of joined meshes: a mesh missing because its config could not be read would lose
 * its queued messages.
 */
export async function pruneLeftMeshes(store: KeyValueStore, joined: ReadonlySet<string>): Promise<number> {
  const gone = store.keys().filter((key) => {
    const prefix = PER_MESH_PREFIXES.find((p) => key.startsWith(p));
    if (!prefix) return false;
    const meshId = key.slice(prefix.length).split('/')[0];
    return meshId !== '' && !joined.has(meshId);
  });
  await Promise.all(gone.map((key) => store.update(key, undefined)));
  return gone.length;
}
