import { safeUrl } from '@taskbus/runtime';
import { expect } from 'chai';
import { recordingLogger, waitFor } from '../support/broker.js';
import { RabbitCluster } from '../support/cluster.js';
import { faultClient, publish, size, sleep, tally, WorkerProcess } from '../faults/harness.js';
import { faultTask } from '../faults/task.js';

/**
 * A quorum queue replicated on a 3-node cluster of our own; worker and client are given every node as a
 * `;` list. While tasks flow, the node leading the queue (the one both are connected to) is killed with
 * SIGKILL and started again: every confirmed task must be handled.
 */
describe('failover between cluster nodes: kill -9 of the quorum queue leader', function () {
  this.timeout(240_000);
  let cluster: RabbitCluster | undefined;

  before(async () => {
    cluster = await RabbitCluster.start();
  });
  after(async () => {
    await cluster?.stop();
  });

  it('loses no confirmed task; duplicates and failover time are reported', async () => {
    const c = cluster!;
    const queue = `failover-quorum-${process.pid}`;
    const worker = new WorkerProcess(queue, { AMQP_URL: c.urls, FAULT_QUEUE_TYPE: 'quorum' });
    const log = recordingLogger();
    const client = await faultClient({ url: c.urls, confirmTimeoutMs: 30_000, logger: log });
    try {
      await worker.start(); // creates the quorum queue, through the first node of the list
      const leader = await c.leaderOf(queue);
      const figures: Record<string, number> = {};
      let faultOver = false;
      const fault = (async () => {
        await sleep(500);
        const handledBefore = worker.handled().length;
        const killedAt = Date.now();
        await c.kill9(leader);
        await waitFor('the client to reconnect', () => (log.records.some((r) => /re-established/.test(r.message)) ? true : undefined), 30_000);
        figures['client reconnected after (ms)'] = Date.now() - killedAt;
        await waitFor('the worker to handle tasks again', () => (worker.handled().length > handledBefore + 200 ? true : undefined), 30_000);
        figures['handling again after (ms)'] = Date.now() - killedAt;
        figures['new leader'] = await c.leaderOf(queue);
        await c.restart(leader);
        figures['leader node back after (ms)'] = Date.now() - killedAt;
      })().finally(() => (faultOver = true));
      const published = await publish(client, queue, size(2000, 20_000), () => !faultOver);
      await fault;
      await waitFor('every confirmed task to be handled', () => {
        const handled = new Set(worker.handled());
        return [...published.confirmed].every((id) => handled.has(id)) ? true : undefined;
      }, 120_000).catch(() => undefined);
      // Results too: the client's reply queue was on the killed node, and is declared again where it is now.
      expect(await (await client.send(faultTask(queue), [-1], {})).result({ timeoutMs: 30_000 })).to.equal(null);
      await worker.kill('SIGTERM');
      const sent = published.confirmed.size + published.rejected.size;
      const t = tally(`quorum leader tb${leader} killed`, sent, published, worker.handled());
      process.stdout.write(`      ${Object.entries(figures).map(([k, v]) => `${k}: ${v}`).join(', ')}\n`);
      const reconnects = log.records.filter((r) => /^broker connection re-established$/.test(r.message)).map((r) => r.fields['broker']);
      expect(reconnects[0]).to.be.a('string').and.not.equal(safeUrl(c.url(leader))); // moved on to another node
      expect(figures['new leader']).to.not.equal(leader);
      expect([...published.rejected.values()]).to.deep.equal([]);
      expect(t.lost).to.equal(0);
      expect(t.confirmed).to.be.greaterThan(0);
    } finally {
      await client.close();
      await worker.dispose();
    }
  });
});
