import type { MessageProperties } from 'amqplib';
import { expect } from 'chai';
import { republishProperties, typedHeaders } from '../../runtime/src/deadletter.js';
import { backoffDelay } from '../../runtime/src/reconnect.js';
import { retryDelayMs } from '../../runtime/src/task.js';

describe('re-publishing deliveries', () => {
  it('re-types integers as 64-bit, in arrays too, and leaves other values alone', () => {
    expect(typedHeaders({ retries: 200, timelimit: [300, null], task: 't', ok: true, ratio: 0.5 })).to.deep.equal({
      retries: { '!': 'long', value: 200 },
      timelimit: [{ '!': 'long', value: 300 }, null],
      task: 't',
      ok: true,
      ratio: 0.5,
    });
  });

  it("re-types integers inside nested tables (Celery 5.3+ stamps), and leaves amqplib's typed values alone", () => {
    const stamps = { tenant: 'acme', budget: 300, route: [1, 200], deep: { n: 40000 } };
    expect(typedHeaders({ stamps, typed: { '!': 'int', value: 5 } })).to.deep.equal({
      stamps: { tenant: 'acme', budget: { '!': 'long', value: 300 }, route: [{ '!': 'long', value: 1 }, { '!': 'long', value: 200 }], deep: { n: { '!': 'long', value: 40000 } } },
      typed: { '!': 'int', value: 5 },
    });
  });

  it("drops RabbitMQ's own headers (dead-lettering history, a quorum queue's delivery count) and keeps the task's", () => {
    const p = { contentType: 'application/json', headers: {} } as unknown as MessageProperties;
    const out = republishProperties(p, {
      id: 'x',
      'x-death': [{ count: 1 }],
      'x-first-death-queue': 'q',
      'x-last-death-reason': 'expired',
      'x-delivery-count': 7,
      'x-death-note': 'a header of the task, not the broker',
      'x-taskbus-reason': 'failed',
    });
    expect(Object.keys(out.headers).sort()).to.deep.equal(['id', 'x-death-note', 'x-taskbus-reason']);
    expect(out).to.include({ contentType: 'application/json', persistent: true });
  });
});

describe('delays', () => {
  it('retry delays double from the initial delay up to the cap', () => {
    const policy = { maxAttempts: 9, initialDelayMs: 1000, maxDelayMs: 5000 };
    expect([0, 1, 2, 3, 4].map((r) => retryDelayMs(policy, r))).to.deep.equal([1000, 2000, 4000, 5000, 5000]);
  });

  it('reconnect backoff is full jitter under a capped exponential', () => {
    expect(backoffDelay(0, {}, () => 1)).to.equal(100);
    expect(backoffDelay(3, {}, () => 1)).to.equal(800);
    expect(backoffDelay(20, {}, () => 1)).to.equal(10_000);
    expect(backoffDelay(20, { maxMs: 2000 }, () => 0.5)).to.equal(1000);
    expect(backoffDelay(5, {}, () => 0)).to.equal(0);
  });
});
