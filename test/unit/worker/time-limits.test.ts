import { expect } from 'chai';
import type { TaskMessage } from '../../../runtime/src/celery/message.js';
import { SoftTimeLimitExceeded, TimeLimitExceeded, TimeLimits, type LateOutcome } from '../../../runtime/src/worker/time-limits.js';

const message = (timeLimit: readonly [number | null, number | null]): TaskMessage => ({
  id: 'id-1',
  task: 't.x',
  args: [],
  kwargs: {},
  retries: 0,
  eta: null,
  expires: null,
  timeLimit,
  rootId: null,
  parentId: null,
  group: null,
  ignoreResult: false,
  origin: null,
  stamps: {},
  replyTo: null,
  correlationId: null,
  priority: null,
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('worker/TimeLimits', () => {
  const none: [string, [number | null, number | null]][] = [
    ['no header', [null, null]],
    ['zero', [0, 0]],
    ['negative', [-1, -5]],
    ['past setTimeout range (never, in practice)', [2 ** 31, null]],
  ];
  for (const [name, limit] of none) {
    it(`none for ${name}: no controller, no timer`, () => {
      expect(TimeLimits.of(message(limit))).to.equal(null);
    });
  }

  it('soft only: aborts the signal with SoftTimeLimitExceeded; the run still ends as the handler does', async () => {
    const limits = TimeLimits.of(message([null, 0.02]))!;
    const value = await limits.run(async () => {
      await sleep(60);
      return limits.signal.aborted;
    }, () => expect.fail('no hard limit'));
    expect(value).to.equal(true);
    expect(limits.signal.reason).to.be.instanceOf(SoftTimeLimitExceeded).and.include({ seconds: 0.02, task: 't.x', taskId: 'id-1', code: 'E_SOFT_TIME_LIMIT' });
    expect(limits.expired).to.equal(null);
  });

  it('hard: rejects with TimeLimitExceeded at the limit, reports the late outcome once, and aborts the signal', async () => {
    const late: LateOutcome[] = [];
    const limits = TimeLimits.of(message([0.02, null]))!;
    const t0 = Date.now();
    const err = await limits.run(() => sleep(80).then(() => 'late value'), (o) => late.push(o)).then(() => null, (e: unknown) => e);
    expect(Date.now() - t0).to.be.below(70);
    expect(err).to.be.instanceOf(TimeLimitExceeded).and.equal(limits.expired);
    expect(limits.signal.reason).to.equal(err);
    await sleep(100);
    expect(late).to.deep.equal([{ returned: 'late value' }]);
  });

  it('a soft limit not below the hard one never fires: the signal aborts at the hard limit', async () => {
    const limits = TimeLimits.of(message([0.02, 0.02]))!;
    await limits.run(() => sleep(50), () => undefined).catch(() => undefined);
    expect(limits.signal.reason).to.be.instanceOf(TimeLimitExceeded);
  });

  it('clears its timers when the handler ends in time, throws, or throws synchronously', async () => {
    await null; // mocha arms its own timeout timer once the test has returned its promise
    const before = timers();
    const ok = TimeLimits.of(message([600, 300]))!;
    expect(await ok.run(() => 'sync value', () => undefined)).to.equal('sync value');
    const thrown = TimeLimits.of(message([600, 300]))!;
    expect(await thrown.run(() => Promise.reject(new RangeError('no')), () => undefined).catch((e: unknown) => e)).to.be.instanceOf(RangeError);
    const sync = TimeLimits.of(message([600, 300]))!;
    const error = await sync
      .run(() => {
        throw new TypeError('at once');
      }, () => undefined)
      .catch((e: unknown) => e);
    expect(error).to.be.instanceOf(TypeError);
    expect(timers()).to.equal(before);
    expect([ok, thrown, sync].map((l) => l.signal.aborted)).to.deep.equal([false, false, false]);
  });
});
