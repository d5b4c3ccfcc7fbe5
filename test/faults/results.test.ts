import { Type } from '@sinclair/typebox';
import { createWorker, defineTask, silentLogger, type SentTask, type TaskClient, type Worker } from '@taskbus/runtime';
import { expect } from 'chai';
import { AMQP_URL, deleteQueues, rawBroker, recordingLogger, uniqueQueue, waitFor } from '../support/broker.js';
import { faultClient, rabbitmqctlAsync, report, size, sleep } from './harness.js';

/** The virtual host of AMQP_URL, for rabbitmqctl's -p. */
const VHOST = decodeURIComponent(new URL(AMQP_URL).pathname.slice(1)) || '/';

const echoTask = (queue: string) =>
  defineTask<[n: number], Record<string, never>, number>({ name: 'fault.echo', queue, args: { n: Type.Integer() }, result: Type.Integer() });

describe('fault 14: results under load and reply-channel faults', function () {
  this.timeout(300_000);
  const queue = uniqueQueue('fault-results');
  const spec = echoTask(queue);
  const handled: string[] = [];
  let replyQueue = '';
  let worker: Worker;
  const log = recordingLogger();
  let client: TaskClient;

  before(async () => {
    worker = createWorker({ logger: silentLogger, prefetch: 200, reconnect: { initialMs: 100, maxMs: 2000 } });
    worker.register(spec, ([n], _kw, ctx) => {
      handled.push(ctx.id);
      replyQueue = ctx.message.replyTo ?? '';
      return n;
    });
    await worker.start();
    client = await faultClient({ logger: log });
    // One call first: the worker sees the client's reply queue (its reply_to) and tells the tests.
    await (await client.send(spec, [-1], {})).result({ timeoutMs: 30_000 });
  });
  after(async () => {
    await client.close();
    await worker.stop();
    await deleteQueues(queue);
  });

  /** Sends n calls at once (confirms pipelined), and only then gathers their results. */
  async function fanOut(n: number, from = 0): Promise<SentTask<number>[]> {
    return Promise.all(Array.from({ length: n }, (_, i) => client.send(spec, [from + i], {})));
  }

  it(`${size(1500, 5000)} concurrent calls gathered only after all were sent: every result arrives, result() twice gives the same`, async () => {
    const n = size(1500, 5000);
    const sent = await fanOut(n);
    await waitFor('every task to be handled', () => (new Set(handled).size >= n ? true : undefined), 120_000);
    const results = await Promise.allSettled(sent.map((s) => s.result({ timeoutMs: 30_000 })));
    const lost = results.filter((r, i) => r.status !== 'fulfilled' || r.value !== i).length;
    const again = await Promise.all(sent.map((s) => s.result({ timeoutMs: 1000 })));
    report({ name: `results, ${n} gathered after sending`, n, confirmed: sent.length, lost, dup: handled.length - new Set(handled).size });
    expect(lost).to.equal(0);
    expect(again).to.deep.equal(sent.map((_, i) => i));
    expect(log.records.filter((r) => r.level !== 'info')).to.deep.equal([]);
  });

  it('reply queue deleted mid-stream (consumer cancelled): the client declares it again, and new calls get their results', async () => {
    const before = log.records.length;
    // Calls keep going in batches while rabbitmqctl deletes the queue, so results are flowing when it goes.
    let deleted = false;
    const deletion = rabbitmqctlAsync('delete_queue', '-p', VHOST, replyQueue).finally(() => (deleted = true));
    const sent: SentTask<number>[] = [];
    while (!deleted) sent.push(...(await fanOut(50, 100_000 + sent.length)));
    await deletion;
    const during = await Promise.allSettled(sent.map((s) => s.result({ timeoutMs: 5000 })));
    await waitFor('the reply queue declared again', () => (log.records.slice(before).some((r) => r.message === 'client reply channel reopened') ? true : undefined), 30_000);
    const after = await fanOut(size(200, 1000), 200_000);
    const results = await Promise.all(after.map((s) => s.result({ timeoutMs: 30_000 })));
    expect(results).to.deep.equal(after.map((_, i) => 200_000 + i));
    const missed = during.filter((r) => r.status !== 'fulfilled').length;
    process.stdout.write(`      fault results, reply queue deleted: ${missed} of ${sent.length} replies sent while it was gone never arrived\n`);
    expect(log.records.slice(before).map((r) => r.message)).to.include.members([
      'reply consumer cancelled by the broker (reply queue deleted?); declaring the queue again and re-subscribing',
      'client reply channel reopened',
    ]);
  });

  it('reply channel closed by the broker (406 on its re-declare) while results flow: it is reopened with backoff, then new calls get their results', async () => {
    const before = log.records.length;
    const raw = await rawBroker();
    try {
      // Delete the reply queue and at once declare it with other arguments, until the client's own
      // re-declaration is refused (406 PRECONDITION_FAILED closes its channel; the connection lives).
      await waitFor('the reply channel closed by a 406', async () => {
        await raw.channel.deleteQueue(replyQueue);
        await raw.channel.assertQueue(replyQueue, { durable: false, arguments: { 'x-max-length': 1_000_000 } }).catch(() => undefined);
        await sleep(300);
        return log.records.slice(before).some((r) => r.message === 'client reply channel closed by the broker' && r.fields['code'] === 406) ? true : undefined;
      }, 30_000);
      // Calls go on while the client cannot consume; their replies land in the test's look-alike queue.
      const during = await fanOut(size(300, 1000), 300_000);
      await sleep(1000);
      const retries = log.records.slice(before).filter((r) => r.message === 'client reply channel could not be reopened; retrying').length;
      expect(retries, 'reopen attempts while the declaration is refused').to.be.greaterThan(0);
      await raw.channel.deleteQueue(replyQueue);
      await waitFor('the reply channel reopened', () => (log.records.slice(before).some((r) => r.message === 'client reply channel reopened') ? true : undefined), 30_000);
      const after = await fanOut(size(300, 1000), 400_000);
      expect(await Promise.all(after.map((s) => s.result({ timeoutMs: 30_000 })))).to.deep.equal(after.map((_, i) => 400_000 + i));
      const all = [...during, ...after];
      await waitFor('every task to be handled', () => (all.every((s) => handled.includes(s.id)) ? true : undefined), 60_000).catch(() => undefined);
      const seen = new Set(handled);
      report({ name: 'results, reply channel closed (406)', n: all.length, confirmed: all.length, lost: all.filter((s) => !seen.has(s.id)).length, dup: handled.length - seen.size });
      process.stdout.write(`      fault results, reply channel closed: ${retries} refused reopens before the queue was given back\n`);
    } finally {
      await raw.close();
    }
  });
});
