/** A minimal typed event, shaped like vscode.Event so views can subscribe without adapters. */
export interface Disposable {
  dispose(): void;
}

export type Event<T> = (listener: (value: T) => void) => Disposable;

export class Emitter<T> {
  private listeners = new Set<(value: T) => void>();

  /** `onListenerError` hears a subscriber's exception (to log it); the other subscribers still run. */
  constructor(private readonly onListenerError?: (err: unknown) => void) {}

  readonly event: Event<T> = (listener) => {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  };

  fire(value: T): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(value);
      } catch (err) {
        // A faulty subscriber must not break the client or the other subscribers; it is reported, not swallowed.
        try {
          this.onListenerError?.(err);
        } catch {
          // A failing logger is not worth breaking the loop for.
        }
      }
    }
  }

  dispose(): void {
    this.listeners.clear();
  }
}
