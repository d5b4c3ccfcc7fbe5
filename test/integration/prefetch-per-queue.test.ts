import { Type } from '@sinclair/typebox';
import { connectClient, createWorker, defineTask, type TaskClient, type Worker } from '@taskbus/runtime';
import { expect } from 'chai';
import { deleteQueues, recordingLogger, uniqueQueue } from '../support/broker.js';

const slow = (queue: string) =>
  defineTask<[n: number], Record<string, never>, number>({ name: `topo.slow.${queue}`, queue, queueType: 'quorum', args: { n: Type.Number() }, result: Type.Number() });

describe('per-consumer prefetch on a worker of several queues', function () {
  this.timeout(60_000);
  const queues = [uniqueQueue('topo-pf-a'), uniqueQueue('topo-pf-b'), uniqueQueue('topo-pf-c')];
  const started: (Worker | TaskClient)[] = [];
  after(async () => {
    for (const s of started.splice(0)) await ('stop' in s ? s.stop() : s.close());
    await deleteQueues(...queues);
  });

  it('runs at most `prefetch` handlers at once per queue, as the README says (quorum queues refuse a prefetch shared by all consumers)', async () => {
    let running = 0;
    let most = 0;
    const perQueue = new Map<string, number>();
    let mostPerQueue = 0;
    const worker = createWorker({ logger: recordingLogger(), prefetch: 2, queueType: 'quorum' });
    for (const q of queues) {
      worker.register(slow(q), async ([n]) => {
        most = Math.max(most, ++running);
        perQueue.set(q, (perQueue.get(q) ?? 0) + 1);
        mostPerQueue = Math.max(mostPerQueue, perQueue.get(q)!);
        await new Promise((r) => setTimeout(r, 300));
        perQueue.set(q, perQueue.get(q)! - 1);
        running--;
        return n;
      });
    }
    await worker.start();
    started.push(worker);
    const c = await connectClient({ logger: recordingLogger() });
    started.push(c);
    const sent = await Promise.all(queues.flatMap((q) => [1, 2, 3, 4].map((n) => c.send(slow(q), [n], {}))));
    await Promise.all(sent.map((s) => s.result({ timeoutMs: 20_000 })));
    expect(mostPerQueue, 'handlers running at once on one queue').to.equal(2);
    expect(most, 'handlers running at once in all').to.be.at.most(2 * queues.length);
  });
});
