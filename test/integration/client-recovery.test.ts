import { Type } from '@sinclair/typebox';
import { connectClient, defineTask, TaskbusError, type ClientOptions, type TaskClient } from '@taskbus/runtime';
import { expect } from 'chai';
import { deleteQueues, queueDepth, rawBroker, recordingLogger, scratchVhost, uniqueQueue } from '../support/broker.js';

const job = (queue: string) => defineTask<[n: number], Record<string, never>, null>({ name: 'client.job', queue, args: { n: Type.Integer() }, result: Type.Null() });
const blob = (queue: string) => defineTask<[s: string], Record<string, never>, null>({ name: 'client.blob', queue, args: { s: Type.String() }, result: Type.Null() });

/** How each call settled: 'ok' or the error code. */
function outcome(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (e: unknown) => (e instanceof TaskbusError ? e.code : `untyped: ${String(e)}`),
  );
}

describe('client publish channel on the real broker', () => {
  const queues: string[] = [];
  const clients: TaskClient[] = [];
  const client = async (options: ClientOptions) => {
    const c = await connectClient({ reconnect: { initialMs: 50, maxMs: 500 }, ...options });
    clients.push(c);
    return c;
  };
  const queue = (prefix: string) => {
    const q = uniqueQueue(prefix);
    queues.push(q);
    return q;
  };
  after(async () => {
    for (const c of clients) await c.close();
    await deleteQueues(...queues);
  });

  /**
   * 2n calls with a delayed one in the middle whose first delay level an operator deleted: publishing to
   * the missing exchange makes the broker close the publish channel (404).
   */
  async function burst(n: number) {
    const log = recordingLogger();
    const vhost = scratchVhost('client-burst');
    try {
      return await burstIn(n, vhost.url, log);
    } finally {
      vhost.remove();
    }
  }

  async function burstIn(n: number, url: string, log: ReturnType<typeof recordingLogger>) {
    const c = await client({ logger: log, url });
    const good = job(uniqueQueue('client-burst'));
    const later = defineTask<[n: number], Record<string, never>, null>({ name: 'client.later', queue: uniqueQueue('client-later'), queueType: 'quorum', args: { n: Type.Integer() }, result: Type.Null() });
    const raw = await rawBroker(url);
    await c.send(good, [-1], {}, { ignoreResult: true }); // declared: the burst is written without yielding
    await c.send(later, [0], {}, { countdown: 600, ignoreResult: true }); // native delayed delivery set up
    await raw.channel.deleteExchange('celery_delayed_27');
    const calls: Promise<string>[] = [];
    for (let i = 0; i < n; i++) calls.push(outcome(c.send(good, [i], {}, { taskId: `burst-${i}`, ignoreResult: true })));
    const delayed = outcome(c.send(later, [1], {}, { countdown: 600, ignoreResult: true }));
    for (let i = n; i < 2 * n; i++) calls.push(outcome(c.send(good, [i], {}, { taskId: `burst-${i}`, ignoreResult: true })));
    const settled = await Promise.all(calls);
    const order: number[] = [];
    for (let m = await raw.channel.get(good.queue, { noAck: true }); m; m = await raw.channel.get(good.queue, { noAck: true })) {
      const id = String(m.properties.correlationId);
      if (id.startsWith('burst-')) order.push(Number(id.slice(6)));
    }
    const resent = Number(log.records.find((r) => r.message.startsWith('publish channel lost with publishes unconfirmed'))?.fields['count'] ?? 0);
    const levels = await queueDepth(raw, 'celery_delayed_9');
    await c.close();
    await raw.close();
    return { settled, delayed: await delayed, levels, order, resent, reopened: log.records.some((r) => r.message === 'client publish channel reopened') };
  }

  it('publish channel closed by the broker mid-burst (404, a delay level deleted): every send settles, lost 0, re-sends keep their order', async function () {
    this.timeout(60_000);
    const n = 2000;
    // The broker may confirm the whole burst before the 406; only a round with re-sends tests their order.
    let round = await burst(n);
    for (let tries = 1; round.resent === 0 && tries < 5; tries++) round = await burst(n);
    const { settled, delayed, levels, order, resent, reopened } = round;
    const unique = new Set(order);
    process.stdout.write(`      publish channel killed mid-burst: N=${2 * n} re-sent=${resent} lost=${2 * n - unique.size} dup=${order.length - unique.size}\n`);
    expect(delayed, 'the delayed send, re-sent once the levels are declared again').to.equal('ok');
    expect(levels, 'both delayed tasks wait in level 9 (512 s)').to.equal(2);
    expect(settled.filter((s) => s !== 'ok')).to.deep.equal([]);
    expect(reopened).to.equal(true);
    expect(resent, 'publishes unconfirmed when the channel closed').to.be.greaterThan(0);
    expect(unique.size, 'lost').to.equal(2 * n);
    // In order, except once: where the re-sent part starts again from the first unconfirmed publish.
    expect(order.filter((v, i) => i > 0 && v < order[i - 1]!).length).to.be.at.most(1);
  });

  it('a queue deleted after it was declared is declared again, as Celery declares on publish: the send is confirmed', async () => {
    const c = await client({ logger: recordingLogger() });
    const spec = job(queue('client-redeclare'));
    await c.send(spec, [1], {}, { ignoreResult: true });
    const raw = await rawBroker();
    await raw.channel.deleteQueue(spec.queue);
    expect(await outcome(c.send(spec, [2], {}, { taskId: 'after-delete', ignoreResult: true }))).to.equal('ok');
    const m = await raw.channel.get(spec.queue, { noAck: true });
    expect(m && m.properties.correlationId).to.equal('after-delete');
    await raw.close();
  });

  it('maxBuffered counts publishes written but not yet confirmed, not only those waiting to be written', async () => {
    const c = await client({ maxBuffered: 20 });
    const spec = job(queue('client-buffered'));
    await c.send(spec, [-1], {}, { ignoreResult: true });
    const settled = await Promise.all(Array.from({ length: 50 }, (_, i) => outcome(c.send(spec, [i], {}, { ignoreResult: true }))));
    expect(settled.filter((s) => s === 'ok')).to.have.length(20);
    expect(settled.filter((s) => s === 'E_BUFFER_FULL')).to.have.length(30);
  });

  it('maxBufferedBytes bounds the bytes of unconfirmed publishes', async () => {
    const c = await client({ maxBufferedBytes: 350 * 1024 });
    const spec = blob(queue('client-bytes'));
    await c.send(spec, [''], {}, { ignoreResult: true });
    const body = 'x'.repeat(100 * 1024);
    const settled = await Promise.all(Array.from({ length: 10 }, () => outcome(c.send(spec, [body], {}, { ignoreResult: true }))));
    expect(settled.filter((s) => s === 'ok')).to.have.length(3);
    expect(settled.filter((s) => s === 'E_BUFFER_FULL')).to.have.length(7);
  });
});
