/** Who a {@link SerialTaskQueue} reports to. */
export interface SerialTaskQueueOwner {
  /** Receives anything a task throws; the queue always moves on to the next task. */
  onTaskError(err: unknown): void;
  /** Runs each time a task leaves the queue, so the owner can lift backpressure. */
  onTaskDequeued(): void;
}

interface Task {
  run: () => Promise<void>;
  weight: number;
}

/**
 * Runs tasks one at a time in push order, so a session's replies can never overtake each other. An idle queue holds
 * no arrays: one queue per socket, almost always empty, must not keep a task array's backing store per connection.
 */
export class SerialTaskQueue {
  private tasks: Task[] | undefined;
  private running = false;
  private queuedWeight = 0;
  private idleWaiters: Array<() => void> | undefined;

  constructor(private readonly owner: SerialTaskQueueOwner) {}

  /** Tasks waiting to start (the running one excluded). */
  get length(): number {
    return this.tasks?.length ?? 0;
  }

  /** Sum of the weights (typically frame bytes) of the waiting tasks. */
  get weight(): number {
    return this.queuedWeight;
  }

  /** Appends a task; it starts once every earlier task has settled. */
  push(run: () => Promise<void>, weight = 0): void {
    (this.tasks ??= []).push({ run, weight });
    this.queuedWeight += weight;
    if (!this.running) void this.pump();
  }

  /** Resolves once nothing is running or waiting. */
  whenIdle(): Promise<void> {
    if (!this.running && this.length === 0) return Promise.resolve();
    return new Promise((resolve) => (this.idleWaiters ??= []).push(resolve));
  }

  private async pump(): Promise<void> {
    this.running = true;
    for (let task = this.tasks?.shift(); task !== undefined; task = this.tasks?.shift()) {
      this.queuedWeight -= task.weight;
      try {
        this.owner.onTaskDequeued();
      } catch {
        // A failing hook must not stall the queue; the hooks log their own problems.
      }
      try {
        await task.run();
      } catch (err) {
        try {
          this.owner.onTaskError(err);
        } catch {
          // As above.
        }
      }
    }
    this.tasks = undefined;
    this.running = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = undefined;
    for (const resolve of waiters ?? []) resolve();
  }
}
