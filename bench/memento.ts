/**
 * A KeyValueStore that persists the way VS Code's workspaceState does (src/vs/workbench/api/common/extHostMemento.ts,
 * ExtensionMemento): one object per extension; update() sets the key in that object and, unless a flush is already
 * scheduled, schedules one on a 0 ms timer (RunOnceScheduler(…, 0)); the flush sends the WHOLE object to the main side
 * (ExtHostStorage.setValue → $setValue, serialised for the RPC) and then resolves every update made since the last
 * one. Updates to a key already waiting share its promise. get() hands back the live value. What we count is what
 * VS Code serialises: the length of JSON.stringify of the whole object, once per flush.
 */
import type { KeyValueStore } from '../src/broker/store';

export class MementoStore implements KeyValueStore {
  private readonly value: Record<string, unknown> = Object.create(null);
  private waiting = new Map<string, { promise: Promise<void>; resolve(): void }>();
  private timer: NodeJS.Timeout | undefined;
  flushes = 0;
  bytesSerialised = 0;

  keys(): readonly string[] {
    // As VS Code: keys set to undefined stay in the object until the main side's change event; they are not listed.
    return Object.entries(this.value).filter(([, v]) => v !== undefined).map(([k]) => k);
  }

  get<T>(key: string): T | undefined {
    return this.value[key] as T | undefined;
  }

  update(key: string, value: unknown): Promise<void> {
    this.value[key] = value;
    const pending = this.waiting.get(key);
    if (pending) return pending.promise;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.waiting.set(key, { promise, resolve });
    this.timer ??= setTimeout(() => this.flush(), 0);
    return promise;
  }

  private flush(): void {
    this.timer = undefined;
    const records = this.waiting;
    this.waiting = new Map();
    this.bytesSerialised += JSON.stringify(this.value).length;
    this.flushes++;
    // The RPC round trip: resolved on a later turn, not synchronously.
    setImmediate(() => {
      for (const record of records.values()) record.resolve();
    });
  }
}
