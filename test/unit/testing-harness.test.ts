import { AssertionError } from 'node:assert';
import { Type } from '@sinclair/typebox';
import { ContractValidationError, defineTask, RemoteTaskError, ResultTimeoutError, untypedTask, type TaskContext, type Worker } from '@taskbus/runtime';
import { createTestBus, type TestBus } from '@taskbus/runtime/testing';
import { expect } from 'chai';
import { rejection } from '../support/rejection.js';

// The in-memory harness (@taskbus/runtime/testing): the client and worker run the real contract checks,
// encoding and worker pipeline; these tests pin the decisions only that pipeline makes (its dead-letter
// reasons and error texts, its retry headers, its ETA parking), so a harness that stopped using it fails them.

const QUEUE = 'harness-unit';

const add = defineTask<[a: number, b: number], Record<string, never>, number>({
  name: 'harness.add',
  version: 1,
  queue: QUEUE,
  args: { a: Type.Integer(), b: Type.Integer() },
  result: Type.Integer(),
  retry: { maxAttempts: 3, initialDelayMs: 1000, maxDelayMs: 60_000 },
});

/** Calls add through the bus's client from inside its handler, and waits for its result (a chain). */
const addThenDouble = defineTask<[a: number, b: number], Record<string, never>, number>({
  name: 'harness.add_then_double',
  queue: 'harness-chain',
  args: { a: Type.Integer(), b: Type.Integer() },
  result: Type.Integer(),
});

const greet = defineTask<[name: string], { punctuation?: string }, string>({
  name: 'harness.greet',
  queue: QUEUE,
  args: { name: Type.String({ minLength: 1 }) },
  kwargs: Type.Object({ punctuation: Type.Optional(Type.String()) }),
  result: Type.String(),
});

/** Runs `test` on a bus of its own, closed after. */
async function onOtherBus(test: (bus: TestBus) => Promise<void>): Promise<void> {
  const bus = createTestBus();
  try {
    await test(bus);
  } finally {
    await bus.close();
  }
}

/** A started worker of `bus` running add. */
async function startAdder(bus: TestBus): Promise<Worker> {
  const w = bus.worker();
  w.register(add, ([a, b]) => a + b);
  await w.start();
  return w;
}

describe('test harness (@taskbus/runtime/testing): the real pipeline on an in-memory bus and a virtual clock', () => {
  let bus: TestBus;
  /** What add's handler does on each attempt, by task id; default: adds. */
  let behaviour: (a: number, b: number, ctx: TaskContext) => number;
  let greetResult: unknown;

  beforeEach(async () => {
    bus = createTestBus({ startAt: new Date('2030-01-01T00:00:00Z') });
    behaviour = (a, b) => a + b;
    greetResult = undefined;
    const worker = bus.worker();
    worker.register(add, ([a, b], _kwargs, ctx) => behaviour(a, b, ctx));
    worker.register(greet, ([name], { punctuation }) => (greetResult as string | undefined) ?? `hello ${name}${punctuation ?? ''}`);
    await worker.start();
  });

  afterEach(() => bus.close());

  it('runs a call in process and gives its result; the call is recorded with its arguments', async () => {
    const sent = await bus.client.send(add, [2, 3], {});
    expect(await sent.result()).to.equal(5);
    expect(sent).to.include({ task: 'harness.add', queue: QUEUE });
    expect(bus.sent(add)).to.deep.equal([{ id: sent.id, task: 'harness.add', queue: QUEUE, args: [2, 3], kwargs: {}, options: {} }]);
    expect(bus.attempts(sent.id)).to.equal(1);
    expect(bus.outcomes()).to.deep.equal([{ id: sent.id, task: 'harness.add', status: 'SUCCESS', result: 5, traceback: null }]);
  });

  it('refuses a call that breaks the contract at send: ContractValidationError, nothing recorded or queued', async () => {
    const e = await rejection(bus.client.send(greet, [''], { punctuation: 1 } as never));
    expect(e).to.be.instanceOf(ContractValidationError);
    expect((e as ContractValidationError).issues.map((i) => i.path)).to.include.members(['name', 'kwargs.punctuation']);
    expect(e.message).to.match(/nothing was sent/);
    expect(bus.sent()).to.deep.equal([]);
    expect(bus.queued(QUEUE)).to.deep.equal([]);
  });

  it('dead-letters bad arguments from an untyped send as invalid-arguments, unrun, and the caller gets TypeError', async () => {
    const sent = await bus.client.send(untypedTask('harness.add', QUEUE), ['two', 3], {});
    const e = await rejection(sent.result());
    expect(e).to.be.instanceOf(RemoteTaskError);
    expect((e as RemoteTaskError).excType).to.equal('TypeError');
    expect(bus.attempts(sent.id)).to.equal(0);
    const [dead, ...more] = bus.deadLetters(QUEUE);
    expect(more).to.deep.equal([]);
    expect(dead).to.include({ id: sent.id, task: 'harness.add', reason: 'invalid-arguments' });
    expect(dead!.args).to.deep.equal(['two', 3]);
    expect(dead!.error).to.match(/^invalid arguments for task harness\.add/);
  });

  it('retries a failing handler as its policy says, on the clock, then dead-letters it as failed with its error', async () => {
    behaviour = () => {
      throw new RangeError('disk full');
    };
    const sent = await bus.client.send(add, [1, 1], {});
    await bus.runUntilIdle();
    expect(bus.attempts(sent.id)).to.equal(1);
    await bus.clock.advance(999);
    expect(bus.attempts(sent.id)).to.equal(1); // initialDelayMs 1000
    await bus.clock.advance(1);
    expect(bus.attempts(sent.id)).to.equal(2);
    await bus.clock.advance(1999);
    expect(bus.attempts(sent.id)).to.equal(2); // then 2000
    expect(bus.deadLetters(QUEUE)).to.deep.equal([]);
    await bus.clock.advance(1);
    expect(bus.attempts(sent.id)).to.equal(3);
    const e = await rejection(sent.result());
    expect(e).to.be.instanceOf(RemoteTaskError);
    expect(e).to.include({ excType: 'RangeError', excMessage: 'disk full', state: 'FAILURE' });
    const [dead] = bus.deadLetters(QUEUE);
    expect(dead).to.include({ id: sent.id, reason: 'failed', error: 'RangeError: disk full (after 3 attempts)', retries: 2 });
    expect(dead!.headers['x-taskbus-queue']).to.equal(QUEUE);
    expect(dead!.headers['x-taskbus-failed-at']).to.equal('2030-01-01T00:00:03.000Z');
    await bus.clock.advance(600_000);
    expect(bus.attempts(sent.id)).to.equal(3);
  });

  it('a handler that fails twice then succeeds gives its result; each attempt sees its retry count', async () => {
    const seen: number[] = [];
    behaviour = (a, b, ctx) => {
      seen.push(ctx.retries);
      if (ctx.retries < 2) throw new Error('flaky');
      return a * b;
    };
    const sent = await bus.client.send(add, [4, 5], {});
    const result = sent.result();
    await bus.clock.advance(3000);
    expect(await result).to.equal(20);
    expect(seen).to.deep.equal([0, 1, 2]);
    expect(bus.deadLetters(QUEUE)).to.deep.equal([]);
  });

  it('does not run a countdown before the clock reaches it', async () => {
    const sent = await bus.client.send(add, [1, 2], {}, { countdown: 30 });
    await bus.runUntilIdle();
    await bus.clock.advance(29_999);
    expect(bus.attempts(sent.id)).to.equal(0);
    await bus.clock.advance(1);
    expect(bus.attempts(sent.id)).to.equal(1);
    expect(await sent.result()).to.equal(3);
  });

  it('parks a far countdown as the worker does (past maxHoldMs) and runs it on time', async () => {
    const sent = await bus.client.send(add, [1, 2], {}, { countdown: 3600 });
    await bus.clock.advance(3_599_999);
    expect(bus.attempts(sent.id)).to.equal(0);
    await bus.clock.advance(1);
    expect(bus.attempts(sent.id)).to.equal(1);
  });

  it('a task past its expires when due is not run and the caller gets REVOKED', async () => {
    const sent = await bus.client.send(add, [1, 2], {}, { countdown: 20, expires: 10 });
    await bus.clock.advance(20_000);
    const e = await rejection(sent.result());
    expect(e).to.be.instanceOf(RemoteTaskError);
    expect(e).to.include({ state: 'REVOKED', excType: 'TaskRevokedError', excMessage: 'expired' });
    expect(bus.attempts(sent.id)).to.equal(0);
    expect(bus.deadLetters(QUEUE)).to.deep.equal([]);
  });

  it('a result that breaks the contract fails the call (ContractValidationError from the worker), not dead-lettered', async () => {
    greetResult = 42;
    const sent = await bus.client.send(greet, ['ann'], {});
    const e = await rejection(sent.result());
    expect(e).to.be.instanceOf(RemoteTaskError);
    expect((e as RemoteTaskError).excType).to.equal('ContractValidationError');
    expect((e as RemoteTaskError).excMessage).to.match(/invalid result for task harness\.greet/);
    expect(bus.deadLetters(QUEUE)).to.deep.equal([]);
  });

  it('an unknown task is dead-lettered as unknown-task and the caller gets NotRegistered', async () => {
    const sent = await bus.client.send(untypedTask('harness.nope', QUEUE), [1], {});
    const e = await rejection(sent.result());
    expect(e).to.include({ excType: 'NotRegistered', excModule: 'celery.exceptions' });
    expect(bus.deadLetters(QUEUE).map((d) => [d.id, d.reason, d.error])).to.deep.equal([[sent.id, 'unknown-task', 'no handler for task harness.nope on this worker']]);
  });

  it('result() times out on the virtual clock', async () => {
    const sent = await bus.client.send(untypedTask('harness.elsewhere', 'harness-nobody'), [], {});
    const waiting = rejection(sent.result({ timeoutMs: 5000 }));
    await bus.clock.advance(5000);
    expect(await waiting).to.be.instanceOf(ResultTimeoutError);
    expect(bus.queued('harness-nobody').map((q) => q.task)).to.deep.equal(['harness.elsewhere']);
  });

  it('keeps tasks queued while no worker consumes their queue, and runs them once one starts', async () => {
    await onOtherBus(async (other) => {
      const sent = await other.client.send(add, [6, 7], {});
      await other.runUntilIdle();
      expect(other.queued(QUEUE).map((q) => [q.id, q.task, q.args])).to.deep.equal([[sent.id, 'harness.add', [6, 7]]]);
      await startAdder(other);
      expect(await sent.result()).to.equal(13);
      expect(other.queued(QUEUE)).to.deep.equal([]);
    });
  });

  it('as RabbitMQ with a per-message TTL: a task that waited in its queue past expires is dropped unseen', async () => {
    await onOtherBus(async (other) => {
      const sent = await other.client.send(add, [1, 1], {}, { expires: 10 });
      await other.clock.advance(10_000);
      await startAdder(other);
      await other.runUntilIdle();
      expect(other.queued(QUEUE)).to.deep.equal([]);
      expect(other.attempts(sent.id)).to.equal(0);
      expect(other.outcomes()).to.deep.equal([]);
      const waiting = rejection(sent.result({ timeoutMs: 1000 }));
      await other.clock.advance(1000);
      expect(await waiting).to.be.instanceOf(ResultTimeoutError);
    });
  });

  it('as RabbitMQ with a TTL of 0 (expires: 0): delivered when a worker can take it at once (REVOKED), else dropped unseen', async () => {
    const ready = await bus.client.send(add, [1, 1], {}, { expires: 0 });
    const revoked = rejection(ready.result({ timeoutMs: 1000 }));
    await bus.clock.advance(1000);
    expect(await revoked).to.include({ state: 'REVOKED', excMessage: 'expired' });
    expect(bus.attempts(ready.id)).to.equal(0);

    const other = createTestBus();
    try {
      const unseen = await other.client.send(add, [1, 1], {}, { expires: 0 });
      await startAdder(other);
      await other.runUntilIdle();
      expect(other.queued(QUEUE)).to.deep.equal([]);
      expect(other.outcomes()).to.deep.equal([]);
      expect(other.attempts(unseen.id)).to.equal(0);
    } finally {
      await other.close();
    }
  });

  it('a stopping worker gives held countdowns back to their queue', async () => {
    await onOtherBus(async (other) => {
      const w = await startAdder(other);
      const sent = await other.client.send(add, [2, 2], {}, { countdown: 60 });
      await other.runUntilIdle();
      expect(other.queued(QUEUE)).to.deep.equal([]); // held by the worker
      await w.stop();
      expect(other.queued(QUEUE).map((q) => q.id)).to.deep.equal([sent.id]);
      await other.clock.advance(60_000);
      expect(other.attempts(sent.id)).to.equal(0);
    });
  });

  it('as RabbitMQ, a task given back to its queue keeps its TTL from when it was first enqueued', async () => {
    await onOtherBus(async (other) => {
      const first = await startAdder(other);
      const sent = await other.client.send(add, [2, 2], {}, { countdown: 60, expires: 30 });
      await other.clock.advance(40_000); // held by the worker, its TTL (30 s) past
      await first.stop();
      await startAdder(other); // a second worker, started after the first gave the task back
      await other.runUntilIdle();
      expect(other.queued(QUEUE)).to.deep.equal([]);
      expect(other.outcomes()).to.deep.equal([]); // dropped unseen, not revoked by a worker
      expect(other.attempts(sent.id)).to.equal(0);
    });
  });

  it('counts prefetch per queue, as the worker\'s consumers do: a busy queue leaves room for the others', async function () {
    this.timeout(5000);
    await onOtherBus(async (other) => {
      let signal!: () => void;
      const signalled = new Promise<void>((resolve) => (signal = resolve));
      const w = other.worker({ prefetch: 1 });
      w.register(add, async ([a, b]) => {
        await signalled; // until harness.signal has run, on the other queue
        return a + b;
      });
      w.register(untypedTask('harness.signal', 'harness-other'), () => signal());
      await w.start();
      const waiting = await other.client.send(add, [1, 2], {});
      await other.client.send(untypedTask('harness.signal', 'harness-other'), [], {});
      await other.runUntilIdle();
      expect(await waiting.result()).to.equal(3);
    });
  });

  it('refuses to move the clock back or by a non-finite amount (RangeError), and leaves it where it was', async () => {
    const before = bus.clock.now();
    for (const ms of [-1, NaN, Infinity]) {
      const e = await rejection(bus.clock.advance(ms));
      expect(e).to.be.instanceOf(RangeError);
      expect(e.message).to.match(/advance\(\) takes a finite number of milliseconds, 0 or more/);
    }
    expect(bus.clock.now()).to.equal(before);
    await bus.clock.advance(0);
    expect(bus.clock.now()).to.equal(before);
  });

  it('refuses a start time that is not a time (RangeError), rather than a clock stuck at NaN', () => {
    expect(() => createTestBus({ startAt: new Date('not a date') })).to.throw(RangeError, /startAt/);
    expect(() => createTestBus({ startAt: NaN })).to.throw(RangeError, /startAt/);
  });

  it('advances called together move the clock one after the other, never back', async () => {
    const start = bus.clock.now();
    const sent = await bus.client.send(add, [1, 1], {}, { countdown: 3 });
    const far = bus.clock.advance(5000);
    const near = bus.clock.advance(1000);
    await Promise.all([far, near]);
    expect(bus.clock.now() - start).to.equal(6000);
    expect(bus.attempts(sent.id)).to.equal(1);
  });

  it('two workers on one queue share its tasks in turn, as RabbitMQ round-robins between consumers', async () => {
    await onOtherBus(async (other) => {
      const ran: string[] = [];
      for (const name of ['w1', 'w2']) {
        const w = other.worker({ name });
        w.register(add, async ([a, b]) => {
          ran.push(name);
          await new Promise((resolve) => setImmediate(resolve));
          return a + b;
        });
        await w.start();
      }
      for (let i = 0; i < 4; i++) await other.client.send(add, [i, i], {});
      await other.runUntilIdle();
      expect(ran).to.deep.equal(['w1', 'w2', 'w1', 'w2']);
    });
  });

  describe('a handler waiting for the result of a call it sent on the bus', () => {
    let chained: TestBus;

    beforeEach(async () => {
      chained = createTestBus();
      const w = chained.worker();
      w.register(addThenDouble, async ([a, b], _kwargs, ctx) => {
        const inner = await chained.client.send(add, [a, b], {});
        return 2 * (await inner.result({ timeoutMs: ctx.retries === 0 ? 30_000 : 60_000 }));
      });
      await w.start();
    });

    afterEach(() => chained.close());

    it('does not hold runUntilIdle or advance while the call it waits for needs the clock (a retry delay)', async function () {
      this.timeout(5000);
      const adder = chained.worker();
      let failures = 1;
      adder.register(add, ([a, b]) => {
        if (failures-- > 0) throw new Error('once');
        return a + b;
      });
      await adder.start();
      const sent = await chained.client.send(addThenDouble, [2, 3], {});
      await chained.runUntilIdle();
      expect(chained.sent(add)).to.have.length(1);
      const result = sent.result();
      await chained.clock.advance(1000); // add's first retry delay
      expect(await result).to.equal(10);
    });

    it('times out on the clock, as on the broker, when nothing answers the call', async function () {
      this.timeout(5000);
      const sent = await chained.client.send(addThenDouble, [2, 3], {});
      const result = rejection(sent.result({ timeoutMs: 120_000 }));
      await chained.clock.advance(30_000);
      const e = await result;
      expect(e).to.be.instanceOf(RemoteTaskError);
      expect(e).to.include({ excType: 'ResultTimeoutError' });
      expect(chained.queued(QUEUE)).to.have.length(1);
    });

    it('close() does not wait for it: the pending result rejects with ClosedError', async function () {
      this.timeout(5000);
      await chained.client.send(addThenDouble, [2, 3], {});
      await chained.runUntilIdle();
      await chained.close();
      expect(chained.outcomes().map((o) => [o.task, o.status, (o.result as { exc_type?: string }).exc_type])).to.deep.equal([['harness.add_then_double', 'FAILURE', 'ClosedError']]);
    });
  });

  it('records the arguments as sent (the message), not the caller\'s objects, which it may change afterwards', async () => {
    const kwargs: { punctuation?: string } = { punctuation: '!' };
    const args: [string] = ['ann'];
    await bus.client.send(greet, args, kwargs);
    args[0] = 'bob';
    kwargs.punctuation = '?';
    bus.expectSent(greet, { times: 1, args: ['ann'], kwargs: { punctuation: '!' } });
    expect(bus.sent(greet).map((c) => [c.args, c.kwargs])).to.deep.equal([[['ann'], { punctuation: '!' }]]);
  });

  it('expectSent passes on a match and otherwise says what was sent', async () => {
    await bus.client.send(add, [1, 2], {});
    await bus.client.send(add, [1, 2], {});
    await bus.client.send(greet, ['bo'], { punctuation: '!' });
    bus.expectSent(add, { times: 2, args: [1, 2] });
    bus.expectSent(greet, { kwargs: { punctuation: '!' } });
    bus.expectSent('harness.greet', { times: 1 });

    const once = (() => {
      try {
        bus.expectSent(add, { times: 1, args: [1, 2] });
      } catch (e) {
        return e as Error;
      }
      throw new Error('expectSent should have thrown');
    })();
    expect(once).to.be.instanceOf(AssertionError);
    expect(once.message).to.match(/^expected harness\.add \(v1\) to be sent once with args \[ 1, 2 \], but 2 calls matched; it was sent 2 times:\n {2}1\. args \[ 1, 2 \] kwargs \{\}/);

    const never = (() => {
      try {
        bus.expectSent(untypedTask('harness.other', QUEUE));
      } catch (e) {
        return e as Error;
      }
      throw new Error('expectSent should have thrown');
    })();
    expect(never.message).to.equal('expected harness.other to be sent at least once, but 0 calls matched; it was never sent; sent were: harness.add, harness.greet');

    const withKwargs = (expected: Parameters<TestBus['expectSent']>[1]) => {
      try {
        bus.expectSent(greet, expected as never);
      } catch (e) {
        return (e as Error).message.split(', but')[0];
      }
      throw new Error('expectSent should have thrown');
    };
    expect(withKwargs({ kwargs: { punctuation: '?' } })).to.equal("expected harness.greet to be sent at least once with kwargs { punctuation: '?' }");
    expect(withKwargs({ times: 2, args: ['bo'], kwargs: { punctuation: '!' } })).to.equal("expected harness.greet to be sent 2 times with args [ 'bo' ] and kwargs { punctuation: '!' }");
  });
});
