import { Type } from '@sinclair/typebox';
import { connectClient, createWorker, defineTask, type TaskClient, type Worker } from '@taskbus/runtime';
import { expect } from 'chai';
import { queueDepth, rawBroker, recordingLogger, scratchVhost, uniqueQueue, waitFor } from '../support/broker.js';

const echo = (queue: string) =>
  defineTask<[n: number], Record<string, never>, number>({ name: 'topo.echo', queue, queueType: 'quorum', args: { n: Type.Number() }, result: Type.Number() });

describe('native delayed delivery when topology changes mid-flight', function () {
  this.timeout(90_000);
  let vhost: ReturnType<typeof scratchVhost>;
  let raw: Awaited<ReturnType<typeof rawBroker>>;
  const started: (Worker | TaskClient)[] = [];
  before(async () => {
    vhost = scratchVhost('topo-delay');
    raw = await rawBroker(vhost.url);
  });
  afterEach(async () => {
    for (const s of started.splice(0)) await ('stop' in s ? s.stop() : s.close());
  });
  after(async () => {
    await raw.close();
    vhost.remove();
  });

  async function serve(queue: string, ran: number[]) {
    const log = recordingLogger();
    const worker = createWorker({ url: vhost.url, logger: log, queueType: 'quorum', reconnect: { initialMs: 50, maxMs: 500 } });
    worker.register(echo(queue), ([n]) => (ran.push(n), n));
    await worker.start();
    started.push(worker);
    return log;
  }

  it('a countdown sent after the task queue was deleted and re-declared under the worker still runs (the #.<queue> bindings come back)', async () => {
    const queue = uniqueQueue('topo-rebind');
    const ran: number[] = [];
    const log = await serve(queue, ran);
    const c = await connectClient({ url: vhost.url, logger: recordingLogger() });
    started.push(c);
    expect(await (await c.send(echo(queue), [1], {}, { countdown: 2 })).result({ timeoutMs: 15_000 })).to.equal(1);
    // An operator deletes the queue (purging it, say); the worker declares it again and consumes again.
    await raw.channel.deleteQueue(queue);
    await waitFor('the consumer re-subscribed', () => (log.records.some((r) => r.message === 'consumer re-subscribed') ? true : undefined));
    const sent = await c.send(echo(queue), [2], {}, { countdown: 2 });
    expect(await sent.result({ timeoutMs: 15_000 })).to.equal(2);
  });

  it('a countdown sent after the delay levels were deleted (by an operator, mid-flight) still runs', async () => {
    const queue = uniqueQueue('topo-levels');
    const ran: number[] = [];
    await serve(queue, ran);
    const c = await connectClient({ url: vhost.url, logger: recordingLogger() });
    started.push(c);
    expect(await (await c.send(echo(queue), [1], {}, { countdown: 2 })).result({ timeoutMs: 15_000 })).to.equal(1);
    for (let n = 27; n >= 0; n--) {
      await raw.channel.deleteQueue(`celery_delayed_${n}`);
      await raw.channel.deleteExchange(`celery_delayed_${n}`);
    }
    await raw.channel.deleteExchange('celery_delayed_delivery');
    const sent = await c.send(echo(queue), [3], {}, { countdown: 2 });
    expect(await sent.result({ timeoutMs: 15_000 })).to.equal(3);
  });
});
