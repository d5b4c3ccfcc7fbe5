import { Type } from '@sinclair/typebox';
import { defineTask, PublishError, TaskbusError } from '@taskbus/runtime';
import { expect } from 'chai';
import { Forwarder } from '../support/forwarder.js';
import { clientScope } from '../support/scope.js';
import { AMQP_URL, queueDepth, rawBroker, recordingLogger, scratchVhost, uniqueQueue, waitFor } from '../support/broker.js';

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
  const { client, queue } = clientScope({ reconnect: { initialMs: 50, maxMs: 500 } });

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

  it('a publish the broker nacks (full queue, reject-publish) is sent again until it is stored, or rejects with PublishError at the confirm timeout', async function () {
    this.timeout(30_000);
    const log = recordingLogger();
    const c = await client({ logger: log, confirmTimeoutMs: 8000 });
    const spec = job(queue('client-nack'));
    const raw = await rawBroker();
    await raw.channel.assertQueue(spec.queue, { durable: true, arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' } });
    try {
      const sends = [1, 2, 3].map((n) => outcome(c.send(spec, [n], {}, { ignoreResult: true })));
      await waitFor('a nack', () => (log.records.some((r) => r.message.startsWith('publish nacked by the broker')) ? true : undefined));
      const got: number[] = [];
      await waitFor('all three stored, one at a time', async () => {
        const m = await raw.channel.get(spec.queue, { noAck: true });
        if (m) got.push((JSON.parse(m.content.toString()) as [number[]])[0][0]!);
        return got.length === 3 ? true : undefined;
      }, 20_000);
      expect(await Promise.all(sends)).to.deep.equal(['ok', 'ok', 'ok']);
      expect(got.sort()).to.deep.equal([1, 2, 3]);
      // Nobody makes room: the second one is nacked until its confirm timeout, then rejected.
      const held = outcome(c.send(spec, [4], {}, { ignoreResult: true }));
      const refused = c.send(spec, [5], {}, { ignoreResult: true }).then(() => null, (e: unknown) => e);
      expect(await held).to.equal('ok');
      const e = await refused;
      expect(e).to.be.instanceOf(PublishError);
      expect(String(e)).to.match(/nacked it \d+ times/);
    } finally {
      await raw.close();
    }
  });

  it('publishes the broker never confirms reject with PublishTimeoutError, each at its own confirm timeout', async function () {
    this.timeout(20_000);
    const forwarder = new Forwarder();
    await forwarder.openAnyOf([5821, 5822, 5823]);
    const c = await client({ logger: recordingLogger(), url: AMQP_URL.replace(/:\d+(?=\/|$)/, `:${forwarder.port}`), confirmTimeoutMs: 1000 });
    const spec = job(queue('client-hang'));
    try {
      await c.send(spec, [0], {}, { ignoreResult: true }); // declared while the broker answers
      forwarder.freeze();
      const settledAt: Record<string, number> = {};
      const t0 = Date.now();
      const settle = (name: string, p: Promise<unknown>) => outcome(p).then((o) => ((settledAt[name] = Date.now() - t0), o));
      const first = settle('first', c.send(spec, [1], {}, { ignoreResult: true }));
      await new Promise((r) => setTimeout(r, 500));
      const second = settle('second', c.send(spec, [2], {}, { ignoreResult: true }));
      expect(await Promise.all([first, second])).to.deep.equal(['E_PUBLISH_TIMEOUT', 'E_PUBLISH_TIMEOUT']);
      expect(settledAt['first']).to.be.within(950, 5000);
      expect(settledAt['second']! - settledAt['first']!, 'the second waited its own full timeout').to.be.at.least(400);
    } finally {
      await forwarder.shut();
    }
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
