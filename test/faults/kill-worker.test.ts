import { expect } from 'chai';
import type { TaskClient } from '@taskbus/runtime';
import { deleteQueues, uniqueQueue, waitFor } from '../support/broker.js';
import { faultClient, publish, size, tally, WorkerProcess } from './harness.js';

const PREFETCH = 50;

describe('fault 1: killed workers', function () {
  this.timeout(600_000);
  let client: TaskClient;
  before(async () => (client = await faultClient()));
  after(async () => client.close());

  for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
    it(`${signal} the worker 3 times during the stream, restart it: lost 0, dup ${signal === 'SIGKILL' ? '<= 3 x prefetch' : '0'}`, async () => {
      const n = size(3000, 10_000);
      const queue = uniqueQueue(`fault-${signal.toLowerCase()}`);
      const worker = new WorkerProcess(queue, { FAULT_PREFETCH: String(PREFETCH) });
      try {
        const published = await publish(client, queue, n);
        expect(published.rejected.size).to.equal(0);
        await worker.start();
        for (let k = 1; k <= 3; k++) {
          // Kill at roughly a quarter, a half and three quarters of the stream.
          await waitFor(`progress ${k}/4`, () => (new Set(worker.handled()).size >= (k * n) / 4 ? true : undefined), 120_000);
          const code = await worker.kill(signal);
          if (signal === 'SIGTERM') expect(code, 'a SIGTERM drain exits 0').to.equal(0);
          await worker.start();
        }
        await waitFor('every task to be handled', () => (new Set(worker.handled()).size >= n ? true : undefined), 300_000);
        await worker.kill('SIGTERM');
        const t = tally(`kill -${signal === 'SIGKILL' ? 9 : 'TERM'} x3`, n, published, worker.handled());
        expect(t.lost).to.equal(0);
        if (signal === 'SIGKILL') expect(t.dup).to.be.at.most(3 * PREFETCH);
        else expect(t.dup).to.equal(0);
      } finally {
        await worker.dispose();
        await deleteQueues(queue);
      }
    });
  }
});
