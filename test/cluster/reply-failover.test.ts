import { Type } from '@sinclair/typebox';
import { connectClient, createWorker, defineTask, safeUrl, taskQueueArguments } from '@taskbus/runtime';
import amqp from 'amqplib';
import { expect } from 'chai';
import { recordingLogger, waitFor } from '../support/broker.js';
import { clusterForBlock } from '../support/cluster.js';

/**
 * Results across a failover: the client's reply queue lives on the node it is connected to. That node is
 * killed with SIGKILL while a task runs on a worker connected elsewhere: the client re-declares its reply
 * queue on another node, and the reply of the running task, and of later ones, still arrives.
 */
describe('failover between cluster nodes: the client loses the node holding its reply queue', function () {
  this.timeout(180_000);
  const { cluster, opened } = clusterForBlock();

  it('a task running during the kill, and one sent after it, both give their result', async () => {
    const c = cluster();
    const queue = `reply-failover-${process.pid}`;
    const slow = defineTask<[n: number, ms: number], Record<string, never>, number>({
      name: 'reply.slow',
      queue,
      queueType: 'quorum',
      args: { n: Type.Integer(), ms: Type.Integer() },
      result: Type.Integer(),
    });
    // The queue leads on node 3, so killing node 1 leaves it (and the worker on node 2) alone.
    const raw = await amqp.connect(c.url(3));
    await (await raw.createChannel()).assertQueue(queue, { durable: true, arguments: taskQueueArguments(queue, 'quorum') });
    await raw.close();

    const worker = createWorker({ url: [2, 3, 1].map((i) => c.url(i)).join(';'), logger: recordingLogger(), reconnect: { initialMs: 50, maxMs: 500 } });
    opened.track(worker);
    worker.register(slow, async ([n, ms]) => {
      await new Promise((r) => setTimeout(r, ms));
      return n * 2;
    });
    await worker.start();
    const log = recordingLogger();
    const client = await connectClient({ url: [1, 2, 3].map((i) => c.url(i)).join(';'), logger: log, reconnect: { initialMs: 50, maxMs: 500 } });
    opened.track(client);
    expect(await (await client.send(slow, [1, 0], {})).result({ timeoutMs: 15_000 })).to.equal(2);

    const running = await client.send(slow, [2, 4000], {});
    await c.kill9(1);
    await waitFor('the client to reconnect', () => (log.records.some((r) => /re-established/.test(r.message)) ? true : undefined), 30_000);
    const after = await client.send(slow, [3, 0], {});
    const [a, b] = await Promise.allSettled([running.result({ timeoutMs: 20_000 }), after.result({ timeoutMs: 20_000 })]);
    const where = log.records.filter((r) => /broker (connected|connection re-established)/.test(r.message)).map((r) => r.fields['broker']);
    expect(where.at(-1)).to.not.equal(safeUrl(c.url(1)));
    expect({ running: a.status === 'fulfilled' ? a.value : String(a.reason), after: b.status === 'fulfilled' ? b.value : String(b.reason) }).to.deep.equal({ running: 4, after: 6 });
  });
});
