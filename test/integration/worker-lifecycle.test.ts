import { Type } from '@sinclair/typebox';
import {
  BrokerAccessRefusedError,
  BrokerUnreachableError,
  connectClient,
  createWorker,
  defineTask,
  RemoteTaskError,
  silentLogger,
  type TaskClient,
} from '@taskbus/runtime';
import { expect } from 'chai';
import { encodeTask } from '../../runtime/src/celery/encode.js';
import { queueDepth, rawBroker, uniqueQueue, VHOST, waitFor } from '../support/broker.js';
import { rabbitmqctl } from '../faults/harness.js';

describe('worker lifecycle on the real broker', () => {
  let client: TaskClient;
  let raw: Awaited<ReturnType<typeof rawBroker>>;
  const queues: string[] = [];

  before(async () => {
    client = await connectClient();
    raw = await rawBroker();
  });
  after(async () => {
    for (const q of queues) {
      for (const own of [q, `${q}.dlq`]) await raw.channel.deleteQueue(own);
      await raw.channel.deleteExchange(q);
    }
    await client.close();
    await raw.close();
  });

  function slowTask() {
    const queue = uniqueQueue('lifecycle');
    queues.push(queue);
    return defineTask<[ms: number], Record<string, never>, null>({ name: `lifecycle.sleep`, queue, args: { ms: Type.Integer() }, result: Type.Null() });
  }

  it('stop() lets a running handler finish and ack: nothing is left or redelivered', async () => {
    const spec = slowTask();
    const started: string[] = [];
    const finished: string[] = [];
    const worker = createWorker({ logger: silentLogger });
    worker.register(spec, async ([ms], _kw, ctx) => {
      started.push(ctx.id);
      await new Promise((r) => setTimeout(r, ms));
      finished.push(ctx.id);
      return null;
    });
    await worker.start();
    const { id } = await client.send(spec, [300], {});
    await waitFor('the handler to start', () => (started.length ? true : undefined));
    await worker.stop();
    expect(finished).to.deep.equal([id]);
    const q = await raw.channel.checkQueue(spec.queue);
    expect(q).to.include({ messageCount: 0, consumerCount: 0 });
  });

  it('stop() does not hang on a stuck handler: it closes at stopTimeoutMs and the task is redelivered', async () => {
    const spec = slowTask();
    const started: string[] = [];
    const worker = createWorker({ logger: silentLogger, stopTimeoutMs: 300 });
    worker.register(spec, async ([ms], _kw, ctx) => {
      started.push(ctx.id);
      await new Promise((r) => setTimeout(r, ms));
      return null;
    });
    await worker.start();
    await client.send(spec, [5000], {});
    await waitFor('the handler to start', () => (started.length ? true : undefined));
    const t = Date.now();
    await worker.stop();
    expect(Date.now() - t).to.be.lessThan(2000);
    await waitFor('the task back in its queue', async () => ((await raw.channel.checkQueue(spec.queue)).messageCount === 1 ? true : undefined));
  });

  it('holds an ETA task unacked until its time, and gives it back to the queue when stopped first', async () => {
    const spec = slowTask();
    const ran: number[] = [];
    const worker = createWorker({ logger: silentLogger });
    worker.register(spec, () => (ran.push(Date.now()), null));
    await worker.start();
    const sentAt = Date.now();
    await client.send(spec, [0], {}, { countdown: 0.4 });
    await waitFor('the ETA task to run', () => (ran.length ? true : undefined));
    expect(ran[0]! - sentAt).to.be.greaterThanOrEqual(350);

    await client.send(spec, [0], {}, { countdown: 300 });
    await waitFor('the delivery to be held', async () => ((await raw.channel.checkQueue(spec.queue)).messageCount === 0 ? true : undefined));
    await worker.stop();
    expect(ran).to.have.length(1);
    expect((await raw.channel.checkQueue(spec.queue)).messageCount).to.equal(1);
  });

  it('parks a far-off ETA task in a delay queue instead of holding it unacked (consumer_timeout)', async () => {
    const spec = slowTask();
    const ran: number[] = [];
    const worker = createWorker({ logger: silentLogger, maxHoldMs: 1000 });
    worker.register(spec, () => (ran.push(Date.now()), null));
    await worker.start();
    const sentAt = Date.now();
    await client.send(spec, [0], {}, { countdown: 3 });
    const parked = `${spec.queue}.retry.2000`;
    await waitFor('the task to be parked', async () => ((await queueDepth(raw, parked)) === 1 ? true : undefined));
    expect(ran).to.deep.equal([]);
    await waitFor('the ETA task to run', () => (ran.length ? true : undefined));
    expect(ran[0]! - sentAt).to.be.within(2900, 6000);
    await worker.stop();
    await raw.channel.deleteQueue(parked);
  });

  it('a task whose expires header has passed is not run: the worker replies REVOKED (no broker TTL involved)', async () => {
    const spec = slowTask();
    const ran: string[] = [];
    const worker = createWorker({ logger: silentLogger });
    worker.register(spec, (_a, _k, ctx) => (ran.push(ctx.id), null));
    await worker.start();
    try {
      // A caller waiting for a result: sent to a queue no worker reads, only to learn its reply queue.
      const sink = uniqueQueue('lifecycle-sink');
      queues.push(sink);
      const caller = await client.send(spec, [0], {}, { queue: sink });
      const captured = await raw.channel.get(sink, { noAck: true });
      const replyTo = captured ? String(captured.properties.replyTo) : '';
      expect(replyTo).not.to.equal('');

      // The same task as Celery writes it with expires in the past, but without the AMQP expiration the
      // client adds: only the worker's own check can stop it now.
      const encoded = encodeTask({ id: caller.id, task: spec.name, args: [0], kwargs: {}, replyTo, origin: 'test', options: { expires: new Date(Date.now() - 1000) } });
      const { expiration: brokerTtl, ...properties } = encoded.properties;
      expect(brokerTtl, 'the broker TTL encodeTask sets and this test leaves out').to.equal('0');
      raw.channel.publish('', spec.queue, encoded.content, { ...properties, headers: encoded.properties.headers });

      const err = await caller.result({ timeoutMs: 10_000 }).then(() => null, (e: unknown) => e);
      expect(err).to.be.instanceOf(RemoteTaskError).and.include({ state: 'REVOKED', excType: 'TaskRevokedError' });
      const fresh = await client.send(spec, [0], {}, { expires: 60 });
      expect(await fresh.result({ timeoutMs: 10_000 })).to.equal(null);
      expect(ran).to.deep.equal([fresh.id]);
    } finally {
      await worker.stop();
    }
  });

  it('start() twice is refused with a typed error and opens no second connection', async () => {
    const spec = slowTask();
    const worker = createWorker({ logger: silentLogger });
    worker.register(spec, () => null);
    await worker.start();
    const err = await worker.start().then(() => null, (e: unknown) => e);
    expect(err).to.have.property('code', 'E_WORKER_STARTED');
    const connections = rabbitmqctl('list_connections', '-p', VHOST, 'client_properties').split('\n').filter((l) => l.includes(`taskbus worker ${spec.queue}`));
    expect(connections).to.have.length(1);
    await worker.stop();
  });

  it('stop() while start() is still connecting leaves no connection behind', async () => {
    const spec = slowTask();
    const worker = createWorker({ logger: silentLogger });
    worker.register(spec, () => null);
    const started = worker.start();
    await worker.stop();
    const err = await started.then(() => null, (e: unknown) => e);
    expect(err).to.have.property('code', 'E_CLOSED');
    await new Promise((r) => setTimeout(r, 300));
    expect(rabbitmqctl('list_connections', '-p', VHOST, 'client_properties')).not.to.include(`taskbus worker ${spec.queue}`);
  });

  it('a result JSON cannot carry fails the task once as EncodeError: the handler is not run again', async () => {
    const queue = uniqueQueue('lifecycle');
    queues.push(queue);
    const spec = defineTask<[n: number], Record<string, never>, unknown>({ name: 'lifecycle.bigint', queue, args: { n: Type.Integer() }, result: Type.Any() });
    let runs = 0;
    const worker = createWorker({ logger: silentLogger });
    worker.register(spec, ([n]) => (runs++, { big: BigInt(n) }));
    await worker.start();
    const err = await (await client.send(spec, [1], {})).result({ timeoutMs: 10_000 }).then(() => null, (e: unknown) => e);
    await new Promise((r) => setTimeout(r, 2500));
    await worker.stop();
    expect(err).to.be.instanceOf(RemoteTaskError);
    expect(err).to.include({ excType: 'EncodeError' });
    expect(runs, 'run once, not redelivered in a loop').to.equal(1);
    expect(await queueDepth(raw, queue)).to.equal(0);
  });

  it('a reconnect while stopping subscribes nothing: tasks sent meanwhile stay queued', async () => {
    const spec = slowTask();
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const ran: number[] = [];
    const worker = createWorker({ logger: silentLogger, reconnect: { initialMs: 50, maxMs: 200 } });
    worker.register(spec, async ([ms]) => {
      ran.push(ms);
      if (ms === 0) await released;
      return null;
    });
    await worker.start();
    await client.send(spec, [0], {});
    await waitFor('the slow task to start', () => (ran.length === 1 ? true : undefined));
    const stopped = worker.stop();
    // The connection drops during the stop; the worker reconnects but must not consume again.
    const line = rabbitmqctl('list_connections', '-p', VHOST, 'pid', 'client_properties').split('\n').find((l) => l.includes(`taskbus worker ${spec.queue}`))!;
    rabbitmqctl('close_connection', line.split('\t')[0]!, 'test: reconnect during stop');
    await new Promise((r) => setTimeout(r, 1000));
    await client.send(spec, [1], {});
    await client.send(spec, [2], {});
    await new Promise((r) => setTimeout(r, 1000));
    release();
    await stopped;
    expect(ran).to.deep.equal([0]);
    // The slow task's delivery died with its connection, so it is back in the queue with the two new ones.
    await waitFor('three tasks queued', async () => ((await queueDepth(raw, spec.queue)) === 3 ? true : undefined));
  });

  it('no broker: a typed error that says how to start one, without the password', async () => {
    const err = await connectClient({ url: 'amqp://app:s3cret@127.0.0.1:1' }).then(() => null, (e: unknown) => e);
    expect(err).to.be.instanceOf(BrokerUnreachableError);
    expect((err as Error).message).to.match(/cannot reach RabbitMQ at amqp:\/\/\*\*\*@127\.0\.0\.1:1 .*rabbitmq-server -detached/);
    expect((err as Error).message).not.to.include('s3cret');
  });

  it('wrong password: a typed access error, without the password', async () => {
    const err = await connectClient({ url: 'amqp://guest:wrong-s3cret@127.0.0.1:5672' }).then(() => null, (e: unknown) => e);
    expect(err).to.be.instanceOf(BrokerAccessRefusedError);
    expect((err as Error).message).not.to.include('wrong-s3cret');
  });
});
