import { expect } from 'chai';
import type { ResultMessage } from '../../runtime/src/celery/result.js';
import { systemClock } from '../../runtime/src/clock.js';
import { ResultStore } from '../../runtime/src/result-store.js';
import { recordingLogger } from '../support/broker.js';
import { rejection } from '../support/rejection.js';

const reply = (taskId: string, result: unknown = taskId): ResultMessage => ({ taskId, status: 'SUCCESS', result, traceback: null, children: [] });

describe('result store: replies kept until claimed, within a time and a byte bound', () => {
  let clock = 0;
  const stores: ResultStore[] = [];
  const store = (ttlMs: number, maxUnclaimedBytes: number, log = recordingLogger()) => {
    const s = new ResultStore({ ttlMs, maxUnclaimedBytes }, log, { now: () => clock, after: systemClock.after });
    stores.push(s);
    return { s, log };
  };
  beforeEach(() => (clock = 0));
  afterEach(() => stores.splice(0).forEach((s) => s.close(new Error('test over'))));

  it('keeps 1,500 replies nobody has asked for yet, then gives each to its claim', async () => {
    const { s, log } = store(3_600_000, 64 * 1024 * 1024);
    const tickets = Array.from({ length: 1500 }, (_, i) => s.expect(`t${i}`, 'job'));
    for (const t of tickets) s.deliver(reply(t.taskId), 100);
    const values = await Promise.all(tickets.map((t) => s.within(t, s.claim(t), 10)));
    expect(values).to.deep.equal(tickets.map((t) => t.taskId));
    expect(log.records).to.deep.equal([]);
  });

  it('past maxUnclaimedBytes drops the oldest unclaimed reply, logs its id, and its claim says why', async () => {
    const { s, log } = store(3_600_000, 250);
    const [a, b, c] = ['a', 'b', 'c'].map((id) => s.expect(id, 'job'));
    for (const t of [a!, b!, c!]) s.deliver(reply(t.taskId), 100);
    expect(log.records.map((r) => [r.level, r.fields['id']])).to.deep.equal([['warn', 'a']]);
    expect(await rejection(s.claim(a!))).to.include({ code: 'E_RESULT_UNAVAILABLE', reason: 'evicted' });
    expect(await s.claim(b!)).to.equal('b');
    expect(await s.claim(c!)).to.equal('c');
  });

  it('a claimed reply no longer counts against the byte bound', async () => {
    const { s, log } = store(3_600_000, 150);
    const [a, b] = ['a', 'b'].map((id) => s.expect(id, 'job'));
    s.deliver(reply('a'), 100);
    const claimed = s.claim(a!);
    s.deliver(reply('b'), 100);
    expect(await claimed).to.equal('a');
    expect(await s.claim(b!)).to.equal('b');
    expect(log.records).to.deep.equal([]);
  });

  it('drops an unclaimed reply after resultTtlMs, with a warning naming the task', async () => {
    const { s, log } = store(1000, 1 << 20);
    const t = s.expect('late', 'job');
    s.deliver(reply('late'), 10);
    clock = 999;
    s.sweep();
    expect(log.records).to.deep.equal([]);
    clock = 1000;
    s.sweep();
    expect(log.records.map((r) => [r.level, r.fields['id']])).to.deep.equal([['warn', 'late']]);
    expect(await rejection(s.claim(t))).to.include({ code: 'E_RESULT_UNAVAILABLE', reason: 'expired' });
  });

  it('never drops a task somebody is waiting for; stops waiting for a reply after resultTtlMs without a waiter', async () => {
    const { s } = store(1000, 1 << 20);
    const waited = s.expect('waited', 'job');
    const idle = s.expect('idle', 'job');
    const outcome = s.claim(waited);
    const waiting = s.within(waited, outcome, 60_000);
    clock = 5000;
    s.sweep();
    expect(await rejection(s.claim(idle))).to.include({ code: 'E_RESULT_UNAVAILABLE', reason: 'no-reply' });
    s.deliver(reply('waited'), 10);
    expect(await waiting).to.equal('waited');
  });

  it('a timed-out wait can be repeated, and the reply still reaches the second one', async () => {
    const { s } = store(3_600_000, 1 << 20);
    const t = s.expect('slow', 'job');
    const outcome = s.claim(t);
    expect(await rejection(s.within(t, outcome, 5))).to.include({ code: 'E_RESULT_TIMEOUT' });
    const again = s.within(t, outcome, 1000);
    s.deliver(reply('slow'), 10);
    expect(await again).to.equal('slow');
  });

  it('replies for tasks it did not send, or answered already, are logged and dropped', () => {
    const { s, log } = store(3_600_000, 1 << 20);
    s.expect('mine', 'job');
    s.deliver(reply('mine'), 10);
    s.deliver(reply('mine'), 10);
    s.deliver(reply('theirs'), 10);
    expect(log.records.map((r) => [r.level, r.fields['id']])).to.deep.equal([
      ['warn', 'mine'],
      ['warn', 'theirs'],
    ]);
  });

  it('a failed task rejects every claim with the same RemoteTaskError', async () => {
    const { s } = store(3_600_000, 1 << 20);
    const t = s.expect('bad', 'job');
    s.deliver({ taskId: 'bad', status: 'FAILURE', result: { exc_type: 'ValueError', exc_message: ['no'] }, traceback: 'tb', children: [] }, 10);
    const first = await rejection(s.claim(t));
    expect(first).to.include({ code: 'E_TASK_FAILED' });
    expect(await rejection(s.claim(t))).to.include({ code: 'E_TASK_FAILED' });
  });
});
