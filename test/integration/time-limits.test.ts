import { Type } from '@sinclair/typebox';
import { createWorker, defineTask, RemoteTaskError, SoftTimeLimitExceeded, TimeLimitExceeded, type TaskContext } from '@taskbus/runtime';
import { expect } from 'chai';
import { delayQueueName } from '../../runtime/src/deadletter.js';
import { queueDepth, rawBroker, recordingLogger, waitFor } from '../support/broker.js';
import { clientScope, openedPerTest } from '../support/scope.js';

/** What one handler run saw of its signal. */
interface Seen {
  readonly aborted: boolean;
  readonly reason: unknown;
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first (as fetch or timers/promises do). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

describe('time limits on the real broker (soft aborts context.signal, hard fails with TimeLimitExceeded)', function () {
  this.timeout(30_000);
  const scope = clientScope({});
  const opened = openedPerTest();
  const retryQueues: string[] = [];
  after(async () => {
    // The delay queue the retried soft-limit failures went through (clientScope removes the queue and its DLQ).
    const raw = await rawBroker();
    for (const q of retryQueues) await raw.channel.deleteQueue(q);
    await raw.close();
  });

  const spec = (queue: string) =>
    defineTask<[mode: string, ms: number], Record<string, never>, string>({
      name: 'limits.work',
      queue,
      args: { mode: Type.String(), ms: Type.Integer() },
      result: Type.String(),
      // A retry policy that would retry an ordinary failure: a hard time limit must not be retried (as in Celery).
      retry: { maxAttempts: 3, initialDelayMs: 100, maxDelayMs: 100 },
    });

  /** A worker on a fresh queue whose handler sleeps `ms` on the signal; `mode` says what it does when aborted. */
  async function setUp(prefetch = 4) {
    const queue = scope.queue('limits');
    retryQueues.push(delayQueueName(queue, 100));
    const task = spec(queue);
    const log = recordingLogger();
    const seen = new Map<string, Seen>();
    const late: string[] = [];
    const worker = opened.track(createWorker({ logger: log, prefetch }));
    worker.register(task, async ([mode, ms], _kw, ctx: TaskContext) => {
      try {
        await sleep(ms, mode === 'ignore' ? new AbortController().signal : ctx.signal);
      } catch (e) {
        seen.set(ctx.id, { aborted: ctx.signal.aborted, reason: e });
        if (mode === 'catch') return 'cleaned up';
        throw e;
      } finally {
        if (mode === 'ignore') late.push(ctx.id);
      }
      seen.set(ctx.id, { aborted: ctx.signal.aborted, reason: ctx.signal.reason });
      return mode === 'ignore' ? 'late result' : 'done';
    });
    await worker.start();
    const client = await scope.client({});
    return { queue, task, log, seen, late, worker, client };
  }

  it('soft limit aborts the handler: signal.aborted with SoftTimeLimitExceeded; rethrown, the task fails with it', async () => {
    const { task, client, seen } = await setUp();
    // A retry policy applies to a rethrown soft limit as to any error: 3 attempts, each aborted after 1 s.
    const sent = await client.send(task, ['rethrow', 10_000], {}, { softTimeLimit: 1 });
    const err = await sent.result({ timeoutMs: 20_000 }).then(() => null, (e: unknown) => e);
    expect(err).to.be.instanceOf(RemoteTaskError);
    expect(err).to.include({ excType: 'SoftTimeLimitExceeded', excModule: 'billiard.exceptions' });
    const s = seen.get(sent.id)!;
    expect(s.aborted).to.equal(true);
    expect(s.reason).to.be.instanceOf(SoftTimeLimitExceeded);
    expect(String((s.reason as Error).message)).to.match(/soft time limit \(1 s\) exceeded/);
  });

  it('a handler that catches the soft abort and returns succeeds, as in Celery (a fractional limit, sent as a double)', async () => {
    const { task, client, seen } = await setUp();
    const t0 = Date.now();
    const sent = await client.send(task, ['catch', 10_000], {}, { softTimeLimit: 0.3, timeLimit: 5 });
    expect(await sent.result({ timeoutMs: 10_000 })).to.equal('cleaned up');
    expect(Date.now() - t0).to.be.within(280, 3000);
    expect(seen.get(sent.id)).to.include({ aborted: true });
  });

  it('hard limit: the caller gets TimeLimitExceeded, the delivery is dead-lettered once (time-limit), not retried; the next task runs at once; the late result is dropped', async () => {
    const { queue, task, client, log, late } = await setUp(1);
    const stuck = await client.send(task, ['ignore', 3000], {}, { timeLimit: 1 });
    const next = await client.send(task, ['plain', 10], {});
    const err = await stuck.result({ timeoutMs: 10_000 }).then(() => null, (e: unknown) => e);
    expect(err).to.be.instanceOf(RemoteTaskError);
    expect(err).to.include({ excType: 'TimeLimitExceeded', excModule: 'billiard.exceptions', excMessage: '1', state: 'FAILURE' });
    // prefetch 1: the next task can only run once the stuck one's delivery was settled, not when its handler ends.
    const t0 = Date.now();
    expect(await next.result({ timeoutMs: 10_000 })).to.equal('done');
    expect(Date.now() - t0, 'the next task waited for the stuck handler').to.be.below(1500);
    expect(late, 'the stuck handler is still running').to.deep.equal([]);
    await waitFor('the stuck handler to end', () => (late.length ? true : undefined), 5000);
    await waitFor('its late outcome logged', () => log.records.find((r) => r.message.includes('abandoned at its hard time limit ended')));
    // One dead letter, reason time-limit, no retry copy; nothing left unacked or redelivered.
    const raw = await rawBroker();
    try {
      const dl = await raw.channel.get(`${queue}.dlq`, { noAck: true });
      expect(dl && dl.properties.headers?.['x-taskbus-reason']).to.equal('time-limit');
      expect(String(dl && dl.properties.headers?.['x-taskbus-error'])).to.match(/^TimeLimitExceeded\(1\)/);
      expect(await raw.channel.get(`${queue}.dlq`, { noAck: true })).to.equal(false);
      expect(await raw.channel.checkQueue(queue)).to.include({ messageCount: 0 });
    } finally {
      await raw.close();
    }
    expect(log.records.filter((r) => r.message.includes('already settled'))).to.deep.equal([]);
    expect(log.records.filter((r) => r.message === 'task failed; will retry')).to.deep.equal([]);
    // The late result never reached the caller: the only reply was the failure (a second one would have been dropped
    // by the client; the worker logs its single reply per task).
    expect(log.records.filter((r) => r.message === 'task succeeded' && r.fields['id'] === stuck.id)).to.deep.equal([]);
  });

  it('exactly one reply per task: the failure at the hard limit, never the late result', async () => {
    const { queue, late } = await setUp();
    const raw = await rawBroker();
    try {
      const { queue: replyTo } = await raw.channel.assertQueue('', { exclusive: true });
      const id = `late-${Date.now()}`;
      const body = JSON.stringify([['ignore', 1500], {}, { callbacks: null, errbacks: null, chain: null, chord: null }]);
      // As a Python caller publishes it: a float hard limit, the rpc reply queue in reply_to.
      raw.channel.sendToQueue(queue, Buffer.from(body), {
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        correlationId: id,
        replyTo,
        headers: { lang: 'py', task: 'limits.work', id, retries: 0, timelimit: [0.5, null] },
      });
      await waitFor('the abandoned handler to end', () => (late.includes(id) ? true : undefined), 5000);
      await new Promise((r) => setTimeout(r, 300)); // a late reply would be on its way by now
      const replies = [];
      for (let m = await raw.channel.get(replyTo, { noAck: true }); m; m = await raw.channel.get(replyTo, { noAck: true })) replies.push(JSON.parse(m.content.toString()));
      expect(replies).to.have.length(1);
      expect(replies[0]).to.deep.include({ task_id: id, status: 'FAILURE', result: { exc_type: 'TimeLimitExceeded', exc_message: [0.5], exc_module: 'billiard.exceptions' } });
    } finally {
      await raw.close();
    }
  });

  it('stop() does not wait for a handler abandoned at its hard limit (it runs on in the background)', async () => {
    const { task, client, late, worker } = await setUp();
    const stuck = await client.send(task, ['ignore', 4000], {}, { timeLimit: 0.5 });
    await stuck.result({ timeoutMs: 10_000 }).catch(() => undefined);
    const t0 = Date.now();
    await worker.stop();
    expect(Date.now() - t0).to.be.below(1500);
    expect(late, 'the abandoned handler is still running').to.deep.equal([]);
    await waitFor('the abandoned handler to end (its outcome is logged, not sent)', () => (late.length ? true : undefined), 6000);
  });

  it('a hard limit passing after stop() gave the task back is no failure: no dead letter, the task stays queued', async () => {
    const queue = scope.queue('limits-stop');
    const task = spec(queue);
    const log = recordingLogger();
    let started = false;
    const worker = opened.track(createWorker({ logger: log, stopTimeoutMs: 200 }));
    worker.register(task, () => {
      started = true;
      return new Promise<string>(() => undefined); // never settles
    });
    await worker.start();
    const client = await scope.client({});
    await client.send(task, ['stuck', 0], {}, { timeLimit: 1 });
    await waitFor('the handler to start', () => (started ? true : undefined));
    await worker.stop();
    await new Promise((r) => setTimeout(r, 1500));
    expect(log.records.filter((r) => r.message === 'delivery dead-lettered' || r.message.startsWith('could not move'))).to.deep.equal([]);
    const raw = await rawBroker();
    try {
      expect(await queueDepth(raw, queue)).to.equal(1);
    } finally {
      await raw.close();
    }
  });

  it('with only a hard limit, the signal aborts at it with TimeLimitExceeded', async () => {
    const { task, client, seen } = await setUp();
    const sent = await client.send(task, ['rethrow', 5000], {}, { timeLimit: 1 });
    await sent.result({ timeoutMs: 10_000 }).catch(() => undefined);
    await waitFor('the abandoned handler to see the abort', () => seen.get(sent.id));
    expect(seen.get(sent.id)!.reason).to.be.instanceOf(TimeLimitExceeded);
  });

  it('tasks that finish in time leave no timer behind: the worker stops at once', async () => {
    const { task, client, worker } = await setUp();
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const base = timers();
    const sent = await Promise.all(Array.from({ length: 20 }, () => client.send(task, ['plain', 5], {}, { softTimeLimit: 600, timeLimit: 900 })));
    for (const s of sent) expect(await s.result({ timeoutMs: 10_000 })).to.equal('done');
    // 20 tasks with two limits each would leave 40 timers armed.
    expect(timers() - base, 'soft or hard timers still armed').to.be.below(5);
    const t0 = Date.now();
    await worker.stop();
    expect(Date.now() - t0).to.be.below(2000);
  });

  it('a task without limits gets a signal that never aborts, made only when read', async () => {
    const { task, client, seen } = await setUp();
    const sent = await client.send(task, ['plain', 5], {});
    expect(await sent.result({ timeoutMs: 10_000 })).to.equal('done');
    expect(seen.get(sent.id)).to.deep.equal({ aborted: false, reason: undefined });
  });
});
