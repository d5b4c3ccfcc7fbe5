import { Type } from '@sinclair/typebox';
import { connectClient, createWorker, defineTask, taskQueueArguments, type TaskClient, type Worker } from '@taskbus/runtime';
import { expect } from 'chai';
import { deleteQueues, rawBroker, recordingLogger, uniqueQueue, waitFor } from '../support/broker.js';

const echo = (queue: string) =>
  defineTask<[n: number], Record<string, never>, number>({ name: 'topo.poison', queue, queueType: 'quorum', args: { n: Type.Number() }, result: Type.Number() });

describe('a poison message on a quorum queue while its dead-letter queue refuses copies', function () {
  this.timeout(60_000);
  const started: (Worker | TaskClient)[] = [];
  let queue: string;
  after(async () => {
    for (const s of started.splice(0)) await ('stop' in s ? s.stop() : s.close());
    const raw = await rawBroker();
    await raw.channel.deleteQueue(`${queue}.retry.1000`);
    await raw.channel.deleteQueue(`${queue}.retry.2000`);
    await raw.close();
    await deleteQueues(queue);
  });

  it('is never run again once it reached deliveryLimit: parking it must not reset its delivery count', async () => {
    queue = uniqueQueue('topo-poison');
    const raw = await rawBroker();
    await raw.channel.assertQueue(queue, { durable: true, arguments: taskQueueArguments(queue, 'quorum') });
    // An operator capped the dead-letter queue: it refuses every copy for now.
    await raw.channel.assertQueue(`${queue}.dlq`, { durable: true, arguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish' } });
    const c = await connectClient({ logger: recordingLogger() });
    started.push(c);
    await c.send(echo(queue), [1], {}, { ignoreResult: true });
    // It killed two workers already: handed out twice, never settled.
    const ch = await raw.connection.createChannel();
    for (let i = 0; i < 2; i++) ch.nack(await waitFor('the message', async () => (await ch.get(queue)) || undefined), false, true);
    await ch.close();
    await raw.close();
    let calls = 0;
    const log = recordingLogger();
    const worker = createWorker({ logger: log, queueType: 'quorum', deliveryLimit: 2 });
    worker.register(echo(queue), ([n]) => (calls++, n));
    await worker.start();
    started.push(worker);
    await waitFor('the dead letter attempt', () => (log.records.some((r) => r.message === 'delivery dead-lettered') ? true : undefined));
    await new Promise((r) => setTimeout(r, 4000));
    expect(calls, 'the poison message ran again: ' + JSON.stringify(log.records.map((r) => [r.message, r.fields['reason'] ?? r.fields['error']]))).to.equal(0);
  });

  it('a task that failed its last attempt is not run again while its dead-letter queue refuses the copy', async () => {
    const q = uniqueQueue('topo-lastfail');
    const raw = await rawBroker();
    await raw.channel.assertQueue(`${q}.dlq`, { durable: true, arguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish' } });
    await raw.close();
    let calls = 0;
    const log = recordingLogger();
    const task = defineTask<[n: number], Record<string, never>, number>({ name: 'topo.lastfail', queue: q, args: { n: Type.Number() }, result: Type.Number() });
    const worker = createWorker({ logger: log });
    worker.register(task, () => {
      calls++;
      throw new Error('charged the card, then failed');
    });
    await worker.start();
    started.push(worker);
    const c = await connectClient({ logger: recordingLogger() });
    started.push(c);
    await c.send(task, [1], {}, { ignoreResult: true });
    await waitFor('the refused dead letter', () => (log.records.some((r) => r.message.startsWith('could not move the delivery')) ? true : undefined));
    await new Promise((r) => setTimeout(r, 4000));
    try {
      expect(calls, 'attempts beyond maxAttempts (1)').to.equal(1);
    } finally {
      for (const s of started.splice(0)) await ('stop' in s ? s.stop() : s.close());
      const r = await rawBroker();
      for (const ms of [1000, 2000, 4000]) await r.channel.deleteQueue(`${q}.retry.${ms}`);
      await r.close();
      await deleteQueues(q);
    }
  });
});
