import { Type } from '@sinclair/typebox';
import { connectClient, createWorker, defineTask, RemoteTaskError, type TaskClient, type Worker } from '@taskbus/runtime';
import { expect } from 'chai';
import { encodeTask } from '../../runtime/src/celery/encode.js';
import { basicAckFrame, methodFrames } from '../support/amqp-frames.js';
import { AMQP_URL, deleteQueues, queueDepth, rawBroker, recordingLogger, uniqueQueue, VHOST, waitFor } from '../support/broker.js';
import { Forwarder } from '../support/forwarder.js';
import { faultClient, publish, rabbitmqctlAsync, report, size, sleep, tally, WorkerProcess } from './harness.js';
import { faultTask } from './task.js';

/**
 * Faults at the channel and consumer level while the connection stays up: the broker cancels a consumer,
 * deletes the queues copies go to, closes a channel, or refuses a copy. Each case reports N, lost and dup.
 */
describe('faults 10-13, 15, 17: consumers cancelled, channels closed, copies refused, ETA floods', function () {
  this.timeout(300_000);
  let raw: Awaited<ReturnType<typeof rawBroker>>;
  before(async () => (raw = await rawBroker()));
  after(async () => raw.close());

  const ctl = (...args: string[]) => rabbitmqctlAsync(...args.slice(0, 1), '-p', VHOST, ...args.slice(1));
  const dlqDepth = async (queue: string) => (await queueDepth(raw, `${queue}.dlq`)) ?? 0;

  /** Publishes as another Celery client would after the queue is gone: it declares the queue itself. */
  async function publishAsOtherCaller(queue: string, ids: readonly string[]): Promise<void> {
    const ch = await raw.connection.createConfirmChannel();
    await ch.assertExchange(queue, 'direct', { durable: true });
    await ch.assertQueue(queue, { durable: true });
    await ch.bindQueue(queue, queue, queue);
    for (const [i, id] of ids.entries()) {
      const e = encodeTask({ id, task: 'fault.job', args: [i], kwargs: {}, replyTo: 'nobody', origin: 'other', options: { ignoreResult: true } });
      ch.publish('', queue, e.content, { ...e.properties, headers: { ...e.properties.headers, retries: 0 } });
    }
    await ch.waitForConfirms();
    await ch.close();
  }

  it('10: the queue is deleted under the worker three times and declared again by another caller: consuming resumes, lost 0', async () => {
    const queue = uniqueQueue('fault-cancel');
    const worker = new WorkerProcess(queue);
    const client = await faultClient();
    const per = size(300, 2000);
    const confirmed = new Set<string>();
    try {
      await worker.start();
      for (let round = 0; round < 4; round++) {
        const p = await publish(client, queue, per, undefined, 200, `${queue}-r${round}`);
        for (const id of p.confirmed) confirmed.add(id);
        const others = Array.from({ length: per }, (_, i) => `other-${round}-${i}`);
        if (round > 0) {
          await publishAsOtherCaller(queue, others);
          others.forEach((id) => confirmed.add(id));
        }
        await waitFor(`round ${round} to be handled`, () => ([...confirmed].every((id) => worker.handled().includes(id)) ? true : undefined), 60_000);
        if (round < 3) await ctl('delete_queue', queue); // the worker's consumer is cancelled by the broker
      }
      const t = tally('10 consumer cancelled x3', confirmed.size, { confirmed, rejected: new Map(), after: [] }, worker.handled());
      expect(t.lost).to.equal(0);
    } finally {
      await client.close();
      await worker.dispose();
      await deleteQueues(queue);
    }
  });

  it('10b: the queue deleted in a tight loop (between declare and consume): the worker declares it again and consumes, lost 0', async () => {
    const queue = uniqueQueue('fault-delloop');
    const log = recordingLogger();
    const handled: string[] = [];
    const worker = createWorker({ logger: log, queues: [queue], reconnect: { initialMs: 50, maxMs: 1000 } });
    worker.register(faultTask(queue), (_a, _k, ctx) => (handled.push(ctx.id), null));
    await worker.start();
    try {
      const ch = await raw.connection.createChannel();
      const until = Date.now() + 3000;
      while (Date.now() < until) await ch.deleteQueue(queue);
      await ch.close();
      await waitFor('the worker to declare its queue again', async () => ((await queueDepth(raw, queue)) !== undefined ? true : undefined), 20_000);
      const ids = Array.from({ length: 50 }, (_, i) => `after-loop-${i}`);
      await publishAsOtherCaller(queue, ids);
      await waitFor('every task after the loop', () => (ids.every((id) => handled.includes(id)) ? true : undefined), 30_000);
      report({ name: '10b queue deleted in a tight loop for 3 s', n: ids.length, confirmed: ids.length, lost: ids.filter((id) => !handled.includes(id)).length, dup: handled.length - new Set(handled).size });
    } finally {
      await worker.stop();
      await deleteQueues(queue);
    }
  });

  it('11: the dead-letter and retry queues are deleted under load, then hostile and failing tasks: every one reaches the new DLQ, lost 0', async () => {
    const queue = uniqueQueue('fault-dlqgone');
    const spec = defineTask<[key: string], Record<string, never>, null>({ name: 'gone.job', queue, args: { key: Type.String() }, result: Type.Null(), retry: { maxAttempts: 3, initialDelayMs: 50 } });
    const handled: string[] = [];
    const worker = createWorker({ logger: recordingLogger(), prefetch: 50 });
    worker.register(spec, ([key], _k, ctx) => {
      if (key === 'poison') throw new Error('always fails');
      handled.push(ctx.id);
      return null;
    });
    await worker.start();
    const client = await connectClient({ logger: recordingLogger() });
    const n = size(200, 2000);
    const poison = size(10, 50);
    const hostile = size(11, 100);
    try {
      const send = (key: string, count: number) => Promise.all(Array.from({ length: count }, () => client.send(spec, [key], {}, { ignoreResult: true })));
      await Promise.all([send('ok', n), send('poison', poison)]);
      await waitFor('the first poison tasks in the DLQ', async () => ((await dlqDepth(queue)) === poison ? true : undefined), 60_000);
      await raw.channel.purgeQueue(`${queue}.dlq`);
      for (const q of [`${queue}.dlq`, `${queue}.retry.50`, `${queue}.retry.100`]) await ctl('delete_queue', q);
      const valid = await Promise.all([send('ok', n), send('poison', poison)]);
      for (let i = 0; i < hostile; i++) raw.channel.sendToQueue(queue, Buffer.from('[["k"], {'), { contentType: 'application/json', headers: { task: 'gone.job', id: `bad-${i}` } });
      await waitFor('every poison and hostile delivery in the new DLQ', async () => ((await dlqDepth(queue)) >= poison + hostile ? true : undefined), 90_000);
      await sleep(500);
      const inDlq = await dlqDepth(queue);
      const ok = valid[0]!.map((s) => s.id);
      const t = report({ name: '11 DLQ and retry queues deleted', n: 2 * n + 2 * poison + hostile, confirmed: 2 * (n + poison), lost: poison + hostile - inDlq + ok.filter((id) => !handled.includes(id)).length, dup: handled.length - new Set(handled).size });
      expect(inDlq).to.equal(poison + hostile);
      expect(t.lost).to.equal(0);
    } finally {
      await worker.stop();
      await client.close();
      for (const d of [50, 100]) await raw.channel.deleteQueue(`${queue}.retry.${d}`);
      await deleteQueues(queue);
    }
  });

  it('12: the broker closes the consume channel (consumer_timeout) on a live connection: it is reopened, consuming resumes, lost 0', async function () {
    this.timeout(400_000);
    const queue = uniqueQueue('fault-chclose');
    const before = (await rabbitmqctlAsync('eval', 'application:get_env(rabbit, consumer_timeout).')).trim();
    const log = recordingLogger();
    const worker = createWorker({ logger: log, queues: [queue], reconnect: { initialMs: 100, maxMs: 2000 } });
    const handled: string[] = [];
    const closed = () => log.records.some((r) => r.message === 'worker consume channel closed by the broker' && r.fields['code'] === 406);
    worker.register(faultTask(queue), async ([n], _k, ctx) => {
      // The first delivery of task 0 outlives consumer_timeout (the broker checks it about once a minute).
      if (n === 0 && !ctx.redelivered) await waitFor('the channel to be closed for the slow task', () => (closed() ? true : undefined), 200_000);
      handled.push(ctx.id);
      return null;
    });
    let client: TaskClient | null = null;
    try {
      await rabbitmqctlAsync('eval', 'application:set_env(rabbit, consumer_timeout, 2000).');
      await worker.start();
      client = await faultClient();
      const c = client;
      let stop = false;
      // A steady stream, not a flood: the case is the channel closing, not the broker under load.
      const confirmed = new Set<string>();
      const published = (async () => {
        for (let i = 0; !stop; i++) {
          await c.send(faultTask(queue), [i], {}, { taskId: `${queue}-${i}`, ignoreResult: true });
          confirmed.add(`${queue}-${i}`);
          await sleep(20);
        }
        return { confirmed, rejected: new Map<string, string>(), after: [] };
      })();
      await waitFor('the broker to close the consume channel', () => (closed() ? true : undefined), 200_000);
      // RabbitMQ 3.10 may still send a delivery on the channel after its close, and amqplib then drops the whole
      // connection ("Frame on unknown channel"): recovered by a reconnect instead of a channel reopen (seen once in CI).
      const strayFrame = () => log.records.some((r) => r.message === 'broker connection error' && /Frame on unknown channel/.test(String(r.fields['error'])));
      const recovered = () => log.records.some((r) => r.message === 'worker consume channel reopened' || (strayFrame() && r.message === 'broker connection re-established'));
      await waitFor('the channel to be reopened', () => (recovered() ? true : undefined), 30_000).catch((e: unknown) => {
        const seen = log.records.filter((r) => r.level !== 'info' || r.message.includes('channel')).slice(-10);
        throw new Error(`${String(e)}; worker log: ${JSON.stringify(seen)}`);
      });
      await sleep(1000);
      stop = true;
      const p = await published;
      await waitFor('every confirmed task to be handled', () => ([...p.confirmed].every((id) => handled.includes(id)) ? true : undefined), 60_000);
      const t = tally('12 consume channel closed by consumer_timeout', p.confirmed.size + p.rejected.size, p, handled);
      expect(t.lost).to.equal(0);
      expect(log.records.filter((r) => /unknown delivery tag/i.test(String(r.fields['error']))), 'no ack on a channel that is gone').to.deep.equal([]);
    } finally {
      await rabbitmqctlAsync('eval', before === 'undefined' ? 'application:unset_env(rabbit, consumer_timeout).' : `application:set_env(rabbit, consumer_timeout, ${/\d+/.exec(before)![0]}).`);
      await worker.stop();
      await client?.close();
      await deleteQueues(queue);
    }
  });

  it('13: the broker refuses the dead-letter copies (max-length, reject-publish): no hot loop, nothing lost, all dead-lettered once allowed', async () => {
    const queue = uniqueQueue('fault-dlqfull');
    const policy = `taskbus-test-${queue}`;
    const log = recordingLogger();
    // Fewer slots than refused deliveries: they must wait outside the prefetch, or nothing else runs.
    const worker = createWorker({ logger: log, queues: [queue], prefetch: 8, reconnect: { initialMs: 100, maxMs: 2000 } });
    const handled: string[] = [];
    worker.register(faultTask(queue), (_a, _k, ctx) => (handled.push(ctx.id), null));
    await worker.start();
    const client = await faultClient();
    const bad = 20;
    try {
      await ctl('set_policy', '--apply-to', 'queues', policy, `^${queue}\\.dlq$`, '{"max-length": 2, "overflow": "reject-publish"}');
      await sleep(500);
      for (let i = 0; i < bad; i++) raw.channel.sendToQueue(queue, Buffer.from('not json'), { contentType: 'application/json', headers: { task: 'fault.job', id: `bad-${i}` } });
      const p = await publish(client, queue, size(200, 2000));
      const windowMs = 6000;
      await sleep(windowMs);
      const refusals = log.records.filter((r) => r.message.startsWith('could not move the delivery')).length;
      // Backoff 1 s, 2 s, 4 s per message: at most a handful of tries each in the window, never thousands.
      expect(refusals, 'bounded redelivery').to.be.within(bad - 2, (bad - 2) * 4);
      expect([...p.confirmed].every((id) => handled.includes(id)), 'valid tasks flow while the DLQ refuses').to.equal(true);
      await ctl('clear_policy', policy);
      await waitFor('all bad deliveries dead-lettered', async () => ((await dlqDepth(queue)) === bad ? true : undefined), 60_000);
      await waitFor('the valid tasks', () => ([...p.confirmed].every((id) => handled.includes(id)) ? true : undefined), 30_000);
      const t = tally(`13 DLQ refuses copies (${refusals} refusals in ${windowMs / 1000} s)`, p.confirmed.size + bad, p, handled);
      expect(t.lost).to.equal(0);
    } finally {
      await ctl('clear_policy', policy).catch(() => undefined);
      await worker.stop();
      await client.close();
      await deleteQueues(queue);
    }
  });

  it('13b: a retry queue declared by someone else with other arguments: retries wait (bounded), and resume once it is gone', async () => {
    const queue = uniqueQueue('fault-retry406');
    const spec = defineTask<[n: number], Record<string, never>, string>({ name: 'conflict.job', queue, args: { n: Type.Integer() }, result: Type.String(), retry: { maxAttempts: 2, initialDelayMs: 100 } });
    const log = recordingLogger();
    const attempts = new Map<number, number>();
    const worker = createWorker({ logger: log });
    worker.register(spec, ([n]) => {
      attempts.set(n, (attempts.get(n) ?? 0) + 1);
      if (attempts.get(n) === 1) throw new Error('first attempt fails');
      return `ok ${n}`;
    });
    await worker.start();
    const client = await connectClient({ logger: recordingLogger() });
    try {
      await raw.channel.assertQueue(`${queue}.retry.100`, { durable: true, arguments: { 'x-max-length': 1 } });
      const sent = await Promise.all([1, 2, 3].map((n) => client.send(spec, [n], {})));
      await waitFor('refused retry declarations', () => (log.records.filter((r) => r.message.startsWith('could not move')).length >= 3 ? true : undefined), 20_000);
      await raw.channel.deleteQueue(`${queue}.retry.100`);
      const results = await Promise.all(sent.map((s) => s.result({ timeoutMs: 60_000 })));
      expect(results).to.deep.equal(['ok 1', 'ok 2', 'ok 3']);
      const refusals = log.records.filter((r) => r.message.startsWith('could not move')).length;
      report({ name: `13b retry queue refused (${refusals} refusals)`, n: 3, confirmed: 3, lost: 0, dup: 0 });
      expect(refusals, 'bounded redelivery while refused').to.be.below(30);
    } finally {
      await worker.stop();
      await client.close();
      await raw.channel.deleteQueue(`${queue}.retry.100`);
      await deleteQueues(queue);
    }
  });

  it('13c: the task queue refuses the retries coming back from their delay queue (reject-publish): kept and retried, every one dead-lettered, lost 0', async () => {
    const queue = uniqueQueue('fault-retryback');
    const policy = `taskbus-test-${queue}`;
    const spec = defineTask<[n: number], Record<string, never>, null>({ name: 'back.job', queue, args: { n: Type.Integer() }, result: Type.Null(), retry: { maxAttempts: 3, initialDelayMs: 200 } });
    const log = recordingLogger();
    const worker = createWorker({ logger: log });
    worker.register(spec, () => {
      throw new Error('always fails');
    });
    const confirmTimeout = 'dead_letter_worker_publisher_confirm_timeout';
    const before = (await rabbitmqctlAsync('eval', `application:get_env(rabbit, ${confirmTimeout}).`)).trim();
    const client = await connectClient({ logger: recordingLogger() });
    const n = 20;
    try {
      // RabbitMQ retries an at-least-once dead letter after this timeout (3 min by default): shorter for the test.
      await rabbitmqctlAsync('eval', `application:set_env(rabbit, ${confirmTimeout}, 2000).`);
      await worker.start();
      await Promise.all(Array.from({ length: n }, (_, i) => client.send(spec, [i], {}, { ignoreResult: true })));
      await waitFor('every first attempt parked for retry', () => (log.records.filter((r) => r.message === 'task failed; will retry').length >= n ? true : undefined), 20_000);
      await ctl('set_policy', '--apply-to', 'queues', policy, `^${queue}$`, '{"max-length": 0, "overflow": "reject-publish"}');
      await sleep(3000); // the retries expire from their delay queue and are refused by the task queue
      await ctl('clear_policy', policy);
      await waitFor('every task in the DLQ after its last attempt', async () => ((await dlqDepth(queue)) === n ? true : undefined), 60_000);
      report({ name: '13c task queue refuses returning retries', n, confirmed: n, lost: n - (await dlqDepth(queue)), dup: 0 });
    } finally {
      await ctl('clear_policy', policy).catch(() => undefined);
      await rabbitmqctlAsync('eval', before === 'undefined' ? `application:unset_env(rabbit, ${confirmTimeout}).` : `application:set_env(rabbit, ${confirmTimeout}, ${/\d+/.exec(before)![0]}).`);
      await worker.stop();
      await client.close();
      for (const ms of [200, 400]) await raw.channel.deleteQueue(`${queue}.retry.${ms}`);
      await deleteQueues(queue);
    }
  });

  it('15: 100 countdown tasks do not stop other tasks at the default prefetch; an expiry passing during the hold is honoured', async () => {
    const queue = uniqueQueue('fault-eta');
    const spec = faultTask(queue);
    const ran = new Map<string, number>();
    let runs = 0;
    const worker = createWorker({ logger: recordingLogger() });
    worker.register(spec, (_a, _k, ctx) => (runs++, ran.set(ctx.id, Date.now()), null));
    await worker.start();
    const client = await connectClient({ logger: recordingLogger() });
    try {
      const countdown = 12;
      const delayed = await Promise.all(Array.from({ length: 100 }, (_, i) => client.send(spec, [i], {}, { countdown, taskId: `eta-${i}`, ignoreResult: true })));
      const dueAt = Date.now() + (countdown - 1) * 1000;
      const plain = await Promise.all(Array.from({ length: 200 }, (_, i) => client.send(spec, [i], {}, { taskId: `plain-${i}`, ignoreResult: true })));
      await waitFor('the plain tasks', () => (plain.every((s) => ran.has(s.id)) ? true : undefined), 60_000);
      const firstEta = Math.min(...delayed.map((s) => ran.get(s.id) ?? Infinity));
      expect(Math.max(...plain.map((s) => ran.get(s.id)!)), 'plain tasks all ran before any countdown was due').to.be.below(Math.min(firstEta, dueAt));
      await waitFor('the countdown tasks', () => (delayed.every((s) => ran.has(s.id)) ? true : undefined), 90_000);
      expect(Math.min(...delayed.map((s) => ran.get(s.id)!)), 'none ran early').to.be.at.least(dueAt);

      const expiring = await client.send(spec, [1], {}, { countdown: 1.5, expires: 0.7, taskId: 'expires-in-hold' });
      const err = await expiring.result({ timeoutMs: 10_000 }).then(() => null, (e: unknown) => e);
      expect(err).to.be.instanceOf(RemoteTaskError);
      expect(err).to.have.property('state', 'REVOKED');
      expect(ran.has('expires-in-hold'), 'an expired task is not run').to.equal(false);
      report({ name: '15 ETA flood (100 countdowns, 200 plain)', n: 301, confirmed: 301, lost: [...delayed, ...plain].filter((s) => !ran.has(s.id)).length, dup: runs - ran.size });
    } finally {
      await worker.stop();
      await client.close();
      for (const ms of [1000, 2000, 4000, 8000]) await raw.channel.deleteQueue(`${queue}.retry.${ms}`);
      await deleteQueues(queue);
    }
  });
  it('17: the broker closes the consume channel while the worker sets it up after a reconnect: it is opened again and consumes, lost 0', async () => {
    const queue = uniqueQueue('fault-consume-closed-in-setup');
    let injected = false;
    // On the reconnect (the forwarder's 2nd connection), once the consume channel has sent basic.qos, the next
    // throwaway declaration channel's close is followed by an ack the broker never gave on the consume channel.
    let consumeChannel = -1;
    const watch = methodFrames((channel, classId, methodId) => {
      if (classId === 60 && methodId === 10 && consumeChannel < 0) consumeChannel = channel;
      if (consumeChannel < 0 || injected || channel === consumeChannel || classId !== 20 || methodId !== 40) return;
      injected = true;
      inject(basicAckFrame(consumeChannel, 987654321n));
    });
    let inject: (bytes: Buffer) => void = () => undefined;
    const forwarder = new Forwarder((connection, chunk, toBroker) => {
      if (connection !== 2) return;
      inject = toBroker;
      watch(chunk);
    });
    await forwarder.openAnyOf([5827, 5828, 5829]);
    const log = recordingLogger();
    const handled = new Set<number>();
    const spec = faultTask(queue);
    const worker = createWorker({ url: AMQP_URL.replace(/:\d+(?=\/|$)/, `:${forwarder.port}`), queues: [queue], remoteControl: false, logger: log, reconnect: { initialMs: 50, maxMs: 200 } });
    worker.register(spec, async ([n]) => {
      handled.add(n);
      return null;
    });
    const client = await faultClient();
    try {
      await worker.start();
      forwarder.cut();
      await waitFor('the consume channel to be closed during the set-up', () => (injected ? true : undefined));
      for (let i = 0; i < 50; i++) await client.send(spec, [i], {}, { ignoreResult: true });
      await waitFor('all 50 tasks to run', () => (handled.size === 50 ? true : undefined), 20_000);
      expect(log.records.map((r) => r.message)).to.include('set-up after reconnect failed; retrying');
    } finally {
      await client.close();
      await worker.stop();
      await forwarder.shut();
      await deleteQueues(queue);
    }
  });
});
