import { Type } from '@sinclair/typebox';
import { connectClient, createWorker, defineTask, taskQueueArguments } from '@taskbus/runtime';
import amqp from 'amqplib';
import { expect } from 'chai';
import { recordingLogger, waitFor } from '../support/broker.js';
import { clusterForBlock } from '../support/cluster.js';

/**
 * A classic queue lives on one node. While that node is down, what does a publish to it give? The promise:
 * a task whose send() resolved (the broker confirmed it) is handled, lost 0.
 */
describe('a classic queue whose node is down: confirmed publishes', function () {
  this.timeout(180_000);
  const { cluster, opened } = clusterForBlock();

  it('every task whose send() resolved while the queue\'s node was down is handled once it is back', async () => {
    const c = cluster();
    const queue = `classic-down-${process.pid}`;
    const task = defineTask<[n: number], Record<string, never>, number>({ name: 'classic.down', queue, args: { n: Type.Integer() }, result: Type.Integer() });
    const raw = await amqp.connect(c.url(1));
    await (await raw.createChannel()).assertQueue(queue, { durable: true, arguments: taskQueueArguments(queue, 'classic') });
    await raw.close();
    const urls = [2, 3, 1].map((i) => c.url(i)).join(';');
    const client = await connectClient({ url: urls, logger: recordingLogger(), confirmTimeoutMs: 5000 });
    opened.track(client);
    // The client publishes to the queue before its node dies (it knows the queue on this connection).
    const before = await client.send(task, [-1], {}, { ignoreResult: true });
    await c.kill9(1);
    await new Promise((r) => setTimeout(r, 2000));
    const outcomes = await Promise.allSettled(Array.from({ length: 20 }, (_, n) => client.send(task, [n], {}, { ignoreResult: true })));
    const confirmed = [before.id, ...outcomes.filter((o) => o.status === 'fulfilled').map((o) => (o as PromiseFulfilledResult<{ id: string }>).value.id)];
    const rejected = outcomes.filter((o) => o.status === 'rejected').map((o) => String((o as PromiseRejectedResult).reason?.code));
    await c.restart(1);
    const handled = new Set<string>();
    const worker = createWorker({ url: urls, logger: recordingLogger(), reconnect: { initialMs: 50, maxMs: 500 } });
    opened.track(worker);
    worker.register(task, ([n], _kwargs, ctx) => (handled.add(ctx.id), n));
    await worker.start();
    await waitFor("the confirmed tasks handled", () => (confirmed.every((id) => handled.has(id)) ? true : undefined), 20_000).catch(() => false);
    const lost = confirmed.filter((id) => !handled.has(id)).length;
    process.stderr.write(`classic queue, node down: confirmed ${confirmed.length}, rejected ${rejected.join(',')}, handled ${handled.size}, lost ${lost}\n`);
    expect({ confirmed: confirmed.length, rejected: rejected.join(','), lost }).to.include({ lost: 0 });
  });
});
