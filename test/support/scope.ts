import { connectClient, type ClientOptions, type TaskClient, type Worker } from '@taskbus/runtime';
import { deleteQueues, uniqueQueue } from './broker.js';

/**
 * Clients and queues for one describe block: call it in the block; after the block the clients are closed
 * and the queues deleted. `defaults` go to every client, under each call's own options.
 */
export function clientScope(defaults: ClientOptions): { client(options: ClientOptions): Promise<TaskClient>; queue(prefix: string): string } {
  const queues: string[] = [];
  const clients: TaskClient[] = [];
  after(async () => {
    for (const c of clients) await c.close();
    await deleteQueues(...queues);
  });
  return {
    async client(options) {
      const c = await connectClient({ ...defaults, ...options });
      clients.push(c);
      return c;
    },
    queue(prefix) {
      const q = uniqueQueue(prefix);
      queues.push(q);
      return q;
    },
  };
}

/** Clients and workers a test opens: closeAll() stops the workers and closes the clients, in order. */
export class Opened {
  private readonly open: (TaskClient | Worker)[] = [];

  track<T extends TaskClient | Worker>(x: T): T {
    this.open.push(x);
    return x;
  }

  /** `tolerant`: a failure to stop or close is ignored (the broker it talked to may be gone). */
  async closeAll(tolerant = false): Promise<void> {
    for (const x of this.open.splice(0)) {
      const done = 'stop' in x ? x.stop() : x.close();
      await (tolerant ? done.catch(() => undefined) : done);
    }
  }
}

/** An Opened closed after each test of the describe block it is called in. */
export function openedPerTest(): Opened {
  const opened = new Opened();
  afterEach(() => opened.closeAll());
  return opened;
}
