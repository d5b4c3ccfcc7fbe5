import { Type } from '@sinclair/typebox';
import {
  connectClient,
  createWorker,
  defineTask,
  openDeadLetters,
  taskQueueArguments,
  TaskbusError,
  type QueueType,
  type TaskClient,
  type Worker,
} from '@taskbus/runtime';
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { AMQP_URL, declareOutcome, deleteQueues, queueDepth, rawBroker, recordingLogger, uniqueQueue, VHOST, waitFor } from '../support/broker.js';

const echo = (queue: string, queueType?: QueueType) =>
  defineTask<[n: number], Record<string, never>, number>({ name: 'quorum.echo', queue, ...(queueType ? { queueType } : {}), args: { n: Type.Number() }, result: Type.Number() });

describe('quorum queues and queues a Celery 5.5+ fleet declared', function () {
  this.timeout(60_000);
  let raw: Awaited<ReturnType<typeof rawBroker>>;
  const cleanup: string[] = [];
  const started: (Worker | TaskClient)[] = [];

  const clientLog = recordingLogger();
  before(async () => (raw = await rawBroker()));
  afterEach(async () => {
    for (const s of started.splice(0)) await ('stop' in s ? s.stop() : s.close());
  });
  after(async () => {
    await deleteQueues(...cleanup);
    for (const q of cleanup) for (const ms of [1000, 2000]) await raw.channel.deleteQueue(`${q}.retry.${ms}`);
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

  async function client() {
    const c = await connectClient({ logger: clientLog });
    started.push(c);
    return c;
  }

  it('shares a quorum queue behind a topic exchange that Celery 5.5+ declared: no 406 for the client or the worker, results flow', async () => {
    const queue = uniqueQueue('qq-celery');
    cleanup.push(queue);
    // What Celery 5.6 declares with task_default_queue_type='quorum' and a topic exchange.
    await raw.channel.assertExchange(queue, 'topic', { durable: true });
    await raw.channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await raw.channel.bindQueue(queue, queue, queue);
    const { log } = await serve(queue);
    const c = await client();
    const sent = await Promise.all([1, 2, 3].map((n) => c.send(echo(queue), [n], {})));
    expect(await Promise.all(sent.map((s) => s.result({ timeoutMs: 10_000 })))).to.deep.equal([2, 4, 6]);
    expect(log.records.find((r) => r.message === 'using the queue as it exists')?.fields).to.include({ queue, type: 'quorum', exchange: 'topic' });
    // The queue is still exactly what Celery declared: its own declaration keeps working.
    expect(await declareOutcome(raw, (ch) => ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } }))).to.equal('ok');
    expect(await declareOutcome(raw, (ch) => ch.assertExchange(queue, 'topic', { durable: true }))).to.equal('ok');
  });

  it('creates a missing quorum queue with the delivery limit and at-least-once dead-lettering, a topic exchange and a quorum dead-letter queue', async () => {
    const queue = uniqueQueue('qq-new');
    cleanup.push(queue);
    await serve(queue, { queueType: 'quorum' });
    expect(await declareOutcome(raw, (ch) => ch.assertQueue(queue, { durable: true, arguments: taskQueueArguments(queue, 'quorum') }))).to.equal('ok');
    expect(await declareOutcome(raw, (ch) => ch.assertQueue(queue, { durable: true }))).to.match(/inequivalent arg/);
    expect(await declareOutcome(raw, (ch) => ch.assertExchange(queue, 'topic', { durable: true }))).to.equal('ok');
    expect(await declareOutcome(raw, (ch) => ch.assertQueue(`${queue}.dlq`, { durable: true, arguments: { 'x-queue-type': 'quorum' } }))).to.equal('ok');
  });

  it('uses a classic queue that exists although the contract says quorum (and the other way round)', async () => {
    const classic = uniqueQueue('qq-was-classic');
    const quorum = uniqueQueue('qq-was-quorum');
    cleanup.push(classic, quorum);
    await raw.channel.assertQueue(classic, { durable: true });
    await raw.channel.assertQueue(quorum, { durable: true, arguments: taskQueueArguments(quorum, 'quorum') });
    await serve(classic, { queueType: 'quorum' });
    await serve(quorum, { queueType: 'classic' });
    const c = await client();
    expect(await (await c.send(echo(classic, 'quorum'), [5], {})).result({ timeoutMs: 10_000 })).to.equal(10);
    expect(await (await c.send(echo(quorum), [6], {})).result({ timeoutMs: 10_000 })).to.equal(12);
  });

  it('a countdown to a quorum queue waits in the broker (Celery native delayed delivery), not in the worker, and runs when due', async () => {
    const queue = uniqueQueue('qq-delay');
    cleanup.push(queue);
    const ran: number[] = [];
    const { log } = await serve(queue, { queueType: 'quorum' }, ([n]) => (ran.push(Date.now()), n));
    const c = await client();
    const sentAt = Date.now();
    const sent = await c.send(echo(queue, 'quorum'), [7], {}, { countdown: 3 });
    await new Promise((r) => setTimeout(r, 1500));
    // Still in the delay levels: nothing in the task queue, nothing handed to the worker.
    expect(await queueDepth(raw, queue)).to.equal(0);
    expect(ran).to.deep.equal([]);
    expect(log.records.filter((r) => /parked|held/.test(r.message))).to.deep.equal([]);
    expect(await sent.result({ timeoutMs: 20_000 })).to.equal(7);
    expect(ran[0]! - sentAt).to.be.at.least(3000);
    expect(await queueDepth(raw, 'celery_delayed_1'), JSON.stringify(clientLog.records)).to.be.a('number');
  });

  it('a countdown to a quorum queue behind a direct exchange goes to the queue with its eta: the worker waits, the task runs when due', async () => {
    const queue = uniqueQueue('qq-direct');
    cleanup.push(queue);
    await raw.channel.assertExchange(queue, 'direct', { durable: true });
    await raw.channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    const ran: number[] = [];
    await serve(queue, { queueType: 'quorum' }, ([n]) => (ran.push(Date.now()), n));
    const c = await client();
    const sentAt = Date.now();
    const sent = await c.send(echo(queue, 'quorum'), [8], {}, { countdown: 2 });
    expect(await sent.result({ timeoutMs: 20_000 })).to.equal(8);
    expect(ran[0]! - sentAt).to.be.at.least(2000);
  });

  it('a message delivered deliveryLimit times without being settled is dead-lettered unrun (x-delivery-count), with its reason', async () => {
    const queue = uniqueQueue('qq-poison');
    cleanup.push(queue);
    await raw.channel.assertQueue(queue, { durable: true, arguments: taskQueueArguments(queue, 'quorum') });
    const c = await client();
    await c.send(echo(queue, 'quorum'), [9], {}, { ignoreResult: true });
    // Two workers died holding it: returned twice, as a crash returns it.
    const ch = await raw.connection.createChannel();
    for (let i = 0; i < 2; i++) {
      const m = await waitFor('the message', async () => (await ch.get(queue)) || undefined);
      ch.nack(m, false, true);
    }
    await ch.close();
    let calls = 0;
    await serve(queue, { queueType: 'quorum', deliveryLimit: 2 }, ([n]) => (calls++, n));
    const dead = await waitFor('the dead letter', async () => (await raw.channel.get(`${queue}.dlq`, { noAck: true })) || undefined);
    expect(dead.properties.headers?.['x-taskbus-reason']).to.equal('delivery-limit');
    // The dead-letter queue counts its own deliveries from 0: the task queue's count was not copied.
    expect(dead.properties.headers?.['x-delivery-count'] ?? 0, 'the broker count is not copied').to.equal(0);
    expect(calls).to.equal(0);
  });

  it('a message the broker dead-letters past x-delivery-limit (no worker got to it) is listed by taskbus dlq with that reason', async () => {
    const queue = uniqueQueue('qq-broker-limit');
    cleanup.push(queue);
    await raw.channel.assertQueue(queue, { durable: true, arguments: taskQueueArguments(queue, 'quorum', 1) });
    await raw.channel.assertQueue(`${queue}.dlq`, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    const c = await client();
    const sent = await c.send(echo(queue, 'quorum'), [1], {}, { ignoreResult: true });
    const ch = await raw.connection.createChannel();
    for (let i = 0; i < 2; i++) ch.nack(await waitFor('the message', async () => (await ch.get(queue)) || undefined), false, true);
    await ch.close();
    const dlq = await openDeadLetters(queue);
    try {
      const [letter] = await waitFor('the broker to dead-letter it', async () => {
        const all = [];
        for await (const l of dlq.list()) all.push(l);
        return all.length ? all : undefined;
      });
      expect(letter).to.include({ id: sent.id, task: 'quorum.echo', reason: 'delivery-limit' });
      expect(letter!.error).to.match(/x-delivery-limit/);
      expect(letter!.failedAt).to.match(/^\d{4}-/);
    } finally {
      await dlq.close();
    }
  });

  it('a quorum queue deleted under the worker (its consumer cancelled) is declared again as quorum and consumed again', async () => {
    const queue = uniqueQueue('qq-cancel');
    cleanup.push(queue);
    const { log } = await serve(queue, { queueType: 'quorum', reconnect: { initialMs: 50, maxMs: 500 } });
    await raw.channel.deleteQueue(queue);
    await waitFor('the consumer re-subscribed', () => (log.records.some((r) => r.message === 'consumer re-subscribed') ? true : undefined));
    expect(await declareOutcome(raw, (ch) => ch.assertQueue(queue, { durable: true, arguments: taskQueueArguments(queue, 'quorum') }))).to.equal('ok');
    const c = await client();
    expect(await (await c.send(echo(queue, 'quorum'), [21], {})).result({ timeoutMs: 10_000 })).to.equal(42);
  });

  it('a user allowed to use a queue an operator declared, but not to configure it, sends to it and consumes it', async () => {
    const queue = uniqueQueue('qq-perm');
    cleanup.push(queue);
    await raw.channel.assertExchange(queue, 'topic', { durable: true });
    await raw.channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await raw.channel.assertQueue(`${queue}.dlq`, { durable: true });
    await raw.channel.bindQueue(queue, queue, queue);
    const user = uniqueQueue('tb-user');
    const ctl = (...args: string[]) => execFileSync('rabbitmqctl', args, { encoding: 'utf8', timeout: 60_000 });
    ctl('add_user', user, 'pw');
    try {
      // Everything but the operator's queue, its exchange and its dead-letter queue may be configured (reply queues).
      ctl('set_permissions', '-p', VHOST, user, `^(?!${queue}).*`, '.*', '.*');
      const url = new URL(AMQP_URL);
      url.username = user;
      url.password = 'pw';
      const { log } = await serve(queue, { url: url.toString(), queueType: 'classic' });
      const c = await connectClient({ url: url.toString(), logger: recordingLogger() });
      started.push(c);
      expect(await (await c.send(echo(queue), [4], {})).result({ timeoutMs: 10_000 })).to.equal(8);
      expect(log.records.find((r) => r.message === 'using the queue as it exists')?.fields).to.include({ type: 'unknown', exchange: 'unknown' });
    } finally {
      for (const s of started.splice(0)) await ('stop' in s ? s.stop() : s.close());
      ctl('delete_user', user);
    }
  });

  it('refuses tasks whose contracts disagree on their queue type', async () => {
    const queue = uniqueQueue('qq-conflict');
    const worker = createWorker({ logger: recordingLogger() });
    worker.register(echo(queue, 'quorum'), ([n]) => n);
    worker.register(defineTask({ name: 'quorum.other', queue, args: {}, result: Type.Null() }), () => null);
    const e = await worker.start().then(() => null, (err: unknown) => err);
    expect(e).to.be.instanceOf(TaskbusError);
    expect((e as TaskbusError).code).to.equal('E_QUEUE_TYPE_CONFLICT');
  });
});
