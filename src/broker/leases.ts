/**
 * Leases several processes (VS Code windows) on one machine can share: one lock file per name in a folder, created
 * with O_EXCL so exactly one process gets a free name, and kept alive by touching its mtime. A lease whose file has
 * not been touched for `staleMs` belonged to a process that is gone; taking it over first creates a claim file named
 * after the stale file's mtime, again with O_EXCL, so of several processes that saw the same stale lease one wins.
 * Unlike a shared key/value store, nothing here is last-writer-wins: a heartbeat touches only its own file.
 * Files a crashed process leaves behind (its stale lease, a claim, a temp file) are swept on every acquire, so the
 * folder holds about as many files as there are live leases.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

const exists = (err: unknown) => (err as NodeJS.ErrnoException).code === 'EEXIST';
const missing = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';

export class FileLeases {
  constructor(
    private readonly dir: string,
    /** Tells this process's leases from everyone else's; random per process. */
    private readonly owner: string,
    private readonly staleMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Names may hold anything (ids from a config or invite): the file is named by a hash. */
  fileOf(name: string): string {
    return path.join(this.dir, createHash('sha256').update(name).digest('hex').slice(0, 32) + '.lock');
  }

  /** Takes the lease if it is free, ours already, or stale; false if another live process holds it. */
  async tryAcquire(name: string): Promise<boolean> {
    const file = this.fileOf(name);
    await fs.promises.mkdir(this.dir, { recursive: true });
    await this.sweep().catch(() => 0); // tidying only: the acquire does not depend on it
    if (await this.create(file)) return true;
    const seen = await this.read(file);
    if (!seen) return this.create(file); // released between our two looks
    if (seen.owner === this.owner) return this.touch(file);
    if (this.now() - seen.mtimeMs < this.staleMs) return false;
    try {
      await fs.promises.writeFile(claimOf(file, seen), this.owner, { flag: 'wx' });
    } catch (err) {
      if (exists(err)) return false;
      throw err;
    }
    // Someone touched or replaced it after we looked: it is not the stale lease we claimed.
    const again = await this.read(file);
    if (again && !sameLease(again, seen)) return false;
    const temp = `${file}.${this.owner}.tmp`;
    await fs.promises.writeFile(temp, this.owner);
    await fs.promises.rename(temp, file);
    return this.touch(file);
  }

  /** The heartbeat: false when the lease is no longer ours (we were taken for gone, and another process took it). */
  async renew(name: string): Promise<boolean> {
    const file = this.fileOf(name);
    const seen = await this.read(file);
    if (seen && seen.owner !== this.owner) return false;
    return seen ? this.touch(file) : this.create(file);
  }

  async release(name: string): Promise<void> {
    const file = this.fileOf(name);
    const seen = await this.read(file);
    if (seen?.owner === this.owner) await fs.promises.rm(file, { force: true });
    const base = path.basename(file);
    for (const entry of await fs.promises.readdir(this.dir).catch(() => [] as string[])) {
      if (entry.startsWith(base + '.') && entry.endsWith('.claim')) await fs.promises.rm(path.join(this.dir, entry), { force: true });
    }
  }

  /**
   * Deletes what gone processes left: a stale lease (through the same claim as a takeover, so of a sweeper and a
   * process taking that lease over only one acts), and claims and temp files older than `staleMs` (a takeover's
   * lasts milliseconds; one left by a crash mid-takeover would otherwise block that lease for good). Best effort:
   * a file another process deletes first is no error, and a failed sweep never fails the acquire.
   */
  async sweep(): Promise<number> {
    let removed = 0;
    const entries = await fs.promises.readdir(this.dir).catch(() => [] as string[]);
    for (const entry of entries) {
      const file = path.join(this.dir, entry);
      try {
        if (entry.endsWith('.lock')) {
          const seen = await this.read(file);
          if (!seen || seen.owner === this.owner || this.now() - seen.mtimeMs < this.staleMs) continue;
          const claim = claimOf(file, seen);
          await fs.promises.writeFile(claim, this.owner, { flag: 'wx' });
          const again = await this.read(file);
          if (again && sameLease(again, seen)) {
            await fs.promises.rm(file, { force: true });
            removed++;
          }
          await fs.promises.rm(claim, { force: true });
        } else if (entry.endsWith('.claim') || entry.endsWith('.tmp')) {
          const stat = await fs.promises.stat(file);
          if (this.now() - stat.mtimeMs < this.staleMs) continue;
          await fs.promises.rm(file, { force: true });
          removed++;
        }
      } catch (err) {
        if (!exists(err) && !missing(err)) throw err;
      }
    }
    return removed;
  }

  private async create(file: string): Promise<boolean> {
    try {
      await fs.promises.writeFile(file, this.owner, { flag: 'wx' });
      return this.touch(file);
    } catch (err) {
      if (exists(err)) return false;
      throw err;
    }
  }

  private async touch(file: string): Promise<boolean> {
    const at = this.now() / 1000;
    await fs.promises.utimes(file, at, at);
    return true;
  }

  private async read(file: string): Promise<LeaseSeen | undefined> {
    try {
      const [owner, stat] = await Promise.all([fs.promises.readFile(file, 'utf8'), fs.promises.stat(file)]);
      return { owner, mtimeMs: stat.mtimeMs };
    } catch (err) {
      if (missing(err)) return undefined;
      throw err;
    }
  }
}

/** A lease file as last read: who wrote it and when it was last touched. */
interface LeaseSeen {
  owner: string;
  mtimeMs: number;
}

/**
 * The claim on a stale lease as it was seen. Named after that lease's mtime, and created with O_EXCL, so of the
 * processes that saw the same stale lease (taking it over, or sweeping it) exactly one goes on.
 */
function claimOf(file: string, seen: LeaseSeen): string {
  return `${file}.${Math.round(seen.mtimeMs)}.claim`;
}

/** Whether the lease file is still the one seen before the claim (not touched or replaced since). */
function sameLease(a: LeaseSeen, b: LeaseSeen): boolean {
  return a.owner === b.owner && a.mtimeMs === b.mtimeMs;
}
