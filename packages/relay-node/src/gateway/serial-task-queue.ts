/** Runs tasks one at a time in push order, so a session's replies can never overtake each other. */
export class SerialTaskQueue {
  private readonly tasks: Array<{ run: () => Promise<void>; weight: number }> = [];
  private running = false;
  private queuedWeight = 0;
  private idleWaiters: Array<() => void> = [];

  /**
   * @param onError receives anything a task throws; the queue always moves on to the next task.
   * @param onDequeue runs each time a task leaves the queue, so the owner can lift backpressure.
   */
  constructor(
    private readonly onError: (err: unknown) => void,
    private readonly onDequeue: () => void = () => {},
  ) {}

  /** Tasks waiting to start (the running one excluded). */
  get length(): number {
    return this.tasks.length;
  }

  /** Sum of the weights (typically frame bytes) of the waiting tasks. */
  get weight(): number {
    return this.queuedWeight;
  }

  /** Appends a task; it starts once every earlier task has settled. */
  push(run: () => Promise<void>, weight = 0): void {
    this.tasks.push({ run, weight });
    this.queuedWeight += weight;
    if (!this.running) void this.pump();
  }

  /** Resolves once nothing is running or waiting. */
  whenIdle(): Promise<void> {
    if (!this.running && this.tasks.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async pump(): Promise<void> {
    this.running = true;
    for (let task = this.tasks.shift(); task !== undefined; task = this.tasks.shift()) {
      this.queuedWeight -= task.weight;
      this.safely(this.onDequeue);
      try {
        await task.run();
      } catch (err) {
        this.safely(() => this.onError(err));
      }
    }
    this.running = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch {
      // A failing hook must not stall the queue; the hooks log their own problems.
    }
  }
}
