import { Type } from '@sinclair/typebox';
import { connectClient, createWorker, defineTask, type QueueType, type TaskClient, type Worker } from '@taskbus/runtime';
import { expect } from 'chai';
import { AMQP_URL, deleteQueues, rawBroker, recordingLogger, uniqueQueue } from '../support/broker.js';

const echo = (queue: string, queueType?: QueueType) =>
  defineTask<[n: number], Record<string, never>, number>({ name: 'topo.echo', queue, ...(queueType ? { queueType } : {}), args: { n: Type.Number() }, result: Type.Number() });

describe('queues and exchanges of odd kinds that a peer declared', function () {
  this.timeout(60_000);
  let raw: Awaited<ReturnType<typeof rawBroker>>;
  const cleanup: string[] = [];
  const started: (Worker | TaskClient)[] = [];
  before(async () => (raw = await rawBroker()));
  afterEach(async () => {
    for (const s of started.splice(0)) await ('stop' in s ? s.stop() : s.close());
  });
  after(async () => {
    await deleteQueues(...cleanup);
    await raw.close();
  });

  async function serve(queue: string, options: Parameters<typeof createWorker>[0] = {}, handler = ([n]: [number]) => n * 2) {
    const log = recordingLogger();
    const worker = createWorker({ logger: log, ...options });
    worker.register(echo(queue, options.queueType), handler);
    await worker.start();
    started.push(worker);
    return { worker, log };
  }
  async function client(url = AMQP_URL) {
    const log = recordingLogger();
    const c = await connectClient({ url, logger: log });
    started.push(c);
    return { c, log };
  }

  it('sends to an exclusive queue that another connection owns (publishing to it is allowed)', async () => {
    const queue = uniqueQueue('topo-excl');
    const owner = await rawBroker();
    try {
      await owner.channel.assertQueue(queue, { exclusive: true });
      const { c } = await client();
      await c.send(echo(queue), [1], {}, { ignoreResult: true });
      const m = await owner.channel.get(queue, { noAck: true });
      expect(m && JSON.parse(m.content.toString())[0]).to.deep.equal([1]);
      // A worker cannot consume it: refused at start with a typed error, not an amqplib one.
      const worker = createWorker({ logger: recordingLogger() });
      worker.register(echo(queue), ([n]) => n);
      const e = await worker.start().then(() => null, (err: unknown) => err);
      if (!e) started.push(worker);
      expect((e as { code?: unknown } | null)?.code).to.equal('E_TOPOLOGY');
    } finally {
      await owner.close();
    }
  });

  it('sends to and serves an auto-delete queue another connection declared', async () => {
    const queue = uniqueQueue('topo-ad');
    const owner = await rawBroker();
    try {
      await owner.channel.assertQueue(queue, { durable: false, autoDelete: true });
      await owner.channel.consume(queue, () => undefined);
      await serve(queue);
      const { c } = await client();
      const s = await c.send(echo(queue), [2], {});
      // The owner's consumer takes some; the worker answers what it gets; the send itself must not fail.
      expect(s.id).to.be.a('string');
    } finally {
      await owner.close();
    }
  });

  it('serves a classic queue declared with x-max-priority, and keeps its priority', async () => {
    const queue = uniqueQueue('topo-prio');
    cleanup.push(queue);
    await raw.channel.assertQueue(queue, { durable: true, arguments: { 'x-max-priority': 10 } });
    await serve(queue);
    const { c } = await client();
    expect(await (await c.send(echo(queue), [3], {})).result({ timeoutMs: 10_000 })).to.equal(6);
  });

  for (const type of ['fanout', 'headers']) {
    it(`serves a queue whose same-named exchange is ${type}`, async () => {
      const queue = uniqueQueue(`topo-${type}`);
      cleanup.push(queue);
      await raw.channel.assertExchange(queue, type, { durable: true });
      await serve(queue, { queueType: 'quorum' });
      const { c } = await client();
      expect(await (await c.send(echo(queue, 'quorum'), [5], {})).result({ timeoutMs: 10_000 })).to.equal(10);
      expect(await (await c.send(echo(queue, 'quorum'), [6], {}, { countdown: 1.5 })).result({ timeoutMs: 10_000 })).to.equal(12);
    });
  }

  it('serves a topic exchange that is not durable (a peer declared it transient)', async () => {
    const queue = uniqueQueue('topo-transient-x');
    cleanup.push(queue);
    await raw.channel.assertExchange(queue, 'topic', { durable: false });
    await raw.channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await serve(queue, { queueType: 'quorum' });
    const { c } = await client();
    expect(await (await c.send(echo(queue, 'quorum'), [7], {}, { countdown: 1.5 })).result({ timeoutMs: 10_000 })).to.equal(14);
  });

  it('runs a first delivery on a classic queue whose message carries an x-delivery-count header (copied by a shovel, or set by its sender)', async () => {
    const queue = uniqueQueue('topo-stale-count');
    cleanup.push(queue);
    const ran: number[] = [];
    const { log } = await serve(queue, {}, ([n]) => (ran.push(n), n));
    const id = `stale-${Date.now()}`;
    const headers = { lang: 'py', task: 'topo.echo', id, root_id: id, parent_id: null, group: null, retries: 0, eta: null, expires: null, argsrepr: '(1,)', kwargsrepr: '{}', origin: 'shovel', 'x-delivery-count': 25 };
    raw.channel.sendToQueue(queue, Buffer.from(JSON.stringify([[1], {}, { callbacks: null, errbacks: null, chain: null, chord: null }])), {
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      correlationId: id,
      headers,
      persistent: true,
    });
    await new Promise((r) => setTimeout(r, 1500));
    expect(log.records.filter((r) => r.message === 'delivery dead-lettered').map((r) => r.fields['reason'])).to.deep.equal([]);
    expect(ran).to.deep.equal([1]);
  });

  it('does not serve a stream as a task queue: every consumer of a stream gets every message, so two workers would both run each task', async () => {
    const queue = uniqueQueue('topo-stream-dup');
    cleanup.push(queue);
    await raw.channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'stream' } });
    const ran: string[] = [];
    const outcomes: string[] = [];
    for (const name of ['w1', 'w2']) {
      const log = recordingLogger();
      const worker = createWorker({ logger: log });
      worker.register(echo(queue), ([n]) => (ran.push(`${name}:${n}`), n));
      outcomes.push(await worker.start().then(() => 'started', (e: unknown) => String((e as { code?: unknown }).code)));
      started.push(worker);
    }
    const { c } = await client();
    await c.send(echo(queue), [9], {}, { ignoreResult: true });
    await new Promise((r) => setTimeout(r, 1500));
    // Either refused with a typed error that says why, or each task runs once.
    if (outcomes.every((o) => o === 'E_TOPOLOGY')) return;
    expect(ran, `outcomes: ${outcomes.join(',')}`).to.have.length(1);
  });
});
