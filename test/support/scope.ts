import { connectClient, type ClientOptions, type TaskClient } from '@taskbus/runtime';
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
