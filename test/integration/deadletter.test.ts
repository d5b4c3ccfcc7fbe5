import { Type } from '@sinclair/typebox';
import { connectClient, createWorker, defineTask, PayloadTooLargeError, silentLogger, type TaskClient, type Worker } from '@taskbus/runtime';
import { expect } from 'chai';
import { rawBroker, uniqueQueue, waitFor } from '../support/broker.js';
import { taskbus } from '../support/cli.js';

describe('retries, dead letters and limits on the real broker', function () {
  this.timeout(30_000);
  const queue = uniqueQueue('dlq-it');
  const calls = new Map<string, number>();
  /** Task ids whose handler should fail (this many times, or forever). */
  const failures = new Map<string, number>();
  let worker: Worker;
  let client: TaskClient;
  let raw: Awaited<ReturnType<typeof rawBroker>>;
  const spec = defineTask<[label: string], Record<string, never>, string>({
    name: 'dlq.job',
    queue,
    args: { label: Type.String() },
    result: Type.String(),
    retry: { maxAttempts: 3, initialDelayMs: 100 },
  });

  before(async () => {
    raw = await rawBroker();
    worker = createWorker({ logger: silentLogger, maxPayloadBytes: 4096 });
    worker.register(spec, ([label], _kw, ctx) => {
      const n = (calls.get(ctx.id) ?? 0) + 1;
      calls.set(ctx.id, n);
      if (n <= (failures.get(ctx.id) ?? 0)) throw new Error(`${label} failed on attempt ${n}`);
      return `done ${label}`;
    });
    await worker.start();
    client = await connectClient({ logger: silentLogger, maxPayloadBytes: 4096 });
  });
  after(async () => {
    await worker.stop();
    await client.close();
    for (const q of [queue, `${queue}.dlq`, `${queue}.retry.100`, `${queue}.retry.200`]) await raw.channel.deleteQueue(q);
    await raw.channel.deleteExchange(queue);
    await raw.close();
  });

  const dlqCount = async () => (await raw.channel.checkQueue(`${queue}.dlq`)).messageCount;

  // Each test starts from an empty dead-letter queue of this suite's own, whatever ran before it.
  beforeEach(async () => {
    await raw.channel.assertQueue(`${queue}.dlq`, { durable: true });
    await raw.channel.purgeQueue(`${queue}.dlq`);
  });

  /** Sends a task that fails every attempt and waits until it is in the dead-letter queue; resolves to its failure. */
  async function poison(taskId: string): Promise<unknown> {
    failures.set(taskId, Infinity);
    const sent = await client.send(spec, ['poison'], {}, { taskId });
    const err = await sent.result({ timeoutMs: 10_000 }).then(() => null, (e: unknown) => e);
    await waitFor('the dead letter', async () => ((await dlqCount()) === 1 ? true : undefined));
    return err;
  }

  it('retries a failing task with backoff and succeeds: the caller gets the result, nothing is dead-lettered', async () => {
    failures.set('flaky-1', 2);
    const sent = await client.send(spec, ['flaky'], {}, { taskId: 'flaky-1' });
    expect(await sent.result({ timeoutMs: 10_000 })).to.equal('done flaky');
    expect(calls.get('flaky-1')).to.equal(3);
    expect(await dlqCount()).to.equal(0);
  });

  it('a poison task ends in <queue>.dlq after the configured attempts, with its reason; other tasks are unaffected', async () => {
    const failed = poison('poison-1');
    const healthy = await Promise.all([1, 2, 3].map((i) => client.send(spec, [`ok-${i}`], {})));
    expect(await Promise.all(healthy.map((h) => h.result({ timeoutMs: 10_000 })))).to.deep.equal(['done ok-1', 'done ok-2', 'done ok-3']);
    expect(await failed).to.have.property('excMessage', 'poison failed on attempt 3');
    expect(calls.get('poison-1')).to.equal(3);

    const list = await taskbus('.', 'dlq', 'list', queue);
    expect(list.code, list.stderr).to.equal(0);
    expect(list.stdout).to.match(/^poison-1\tdlq\.job\tfailed\t\S+\tError: poison failed on attempt 3 \(after 3 attempts\)$/m);
    expect(list.stdout).to.match(/1 dead-lettered task in/);
    const show = await taskbus('.', 'dlq', 'show', queue, 'poison-1');
    const shown = JSON.parse(show.stdout) as { body: string; headers: Record<string, unknown> };
    expect(JSON.parse(shown.body)[0]).to.deep.equal(['poison']);
    expect(shown.headers).to.include({ task: 'dlq.job', retries: 2, 'x-taskbus-reason': 'failed', 'x-taskbus-queue': queue });
    expect(await dlqCount()).to.equal(1);
  });

  it('taskbus dlq replay puts a dead letter back with fresh attempts, and purge empties the queue', async () => {
    await poison('poison-2');
    failures.set('poison-2', 3); // it will succeed on its next attempt
    const replay = await taskbus('.', 'dlq', 'replay', queue, 'poison-2');
    expect(replay.code, replay.stderr).to.equal(0);
    expect(replay.stdout).to.match(/replayed 1 task from/);
    await waitFor('the replayed task to run', () => (calls.get('poison-2') === 4 ? true : undefined));
    expect(await dlqCount()).to.equal(0);

    raw.channel.sendToQueue(queue, Buffer.from('not json'), { contentType: 'application/json', headers: { task: 'dlq.job', id: 'junk' } });
    await waitFor('the junk to be dead-lettered', async () => ((await dlqCount()) === 1 ? true : undefined));
    const purge = await taskbus('.', 'dlq', 'purge', queue);
    expect(purge.stdout.trim()).to.equal(`purged 1 from ${queue}.dlq`);
    expect(await dlqCount()).to.equal(0);
  });

  it('an oversized delivery is dead-lettered unread; an oversized call is refused before sending and the client stays usable', async () => {
    raw.channel.sendToQueue(queue, Buffer.alloc(5000, 0x20), { contentType: 'application/json', headers: { task: 'dlq.job', id: 'huge' } });
    await waitFor('the oversized delivery to be dead-lettered', async () => ((await dlqCount()) === 1 ? true : undefined));
    const m = await raw.channel.get(`${queue}.dlq`, { noAck: true });
    expect(m && m.properties.headers?.['x-taskbus-reason']).to.equal('oversized');

    const err = await client.send(spec, ['x'.repeat(5000)], {}).then(() => null, (e: unknown) => e);
    expect(err).to.be.instanceOf(PayloadTooLargeError);
    expect(await (await client.send(spec, ['small'], {})).result({ timeoutMs: 10_000 })).to.equal('done small');
  });
});
