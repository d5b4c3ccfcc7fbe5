import amqp from 'amqplib';
import { safeUrl, taskQueueArguments } from '@taskbus/runtime';
import { expect } from 'chai';
import { recordingLogger, waitFor } from '../support/broker.js';
import { clusterForBlock } from '../support/cluster.js';
import { faultClient, publish, size, sleep, tally, WorkerProcess } from '../faults/harness.js';
import { faultTask } from '../faults/task.js';

/**
 * A quorum queue replicated on a 3-node cluster of our own; worker and client are given every node as a
 * `;` list. While tasks flow, the node leading the queue is killed with SIGKILL and started again: every
 * confirmed task must be handled, whether worker and client were connected to that node or to another.
 */
describe('failover between cluster nodes: kill -9 of the quorum queue leader', function () {
  this.timeout(240_000);
  const { cluster } = clusterForBlock();

  /**
   * `first`: the node first in worker's and client's list. `declareOn`: the node whose connection declares
   * the queue (and so leads it), else the worker creates it through `first`.
   */
  async function failover(name: string, first: number, declareOn?: number): Promise<void> {
    const c = cluster();
    const queue = `failover-${name}-${process.pid}`;
    const urls = [first, ...[1, 2, 3].filter((i) => i !== first)].map((i) => c.url(i)).join(';');
    if (declareOn !== undefined) {
      const connection = await amqp.connect(c.url(declareOn));
      await (await connection.createChannel()).assertQueue(queue, { durable: true, arguments: taskQueueArguments(queue, 'quorum') });
      await connection.close();
    }
    const worker = new WorkerProcess(queue, { AMQP_URL: urls, FAULT_QUEUE_TYPE: 'quorum', FAULT_LOG_LEVEL: 'info' });
    const log = recordingLogger();
    const client = await faultClient({ url: urls, confirmTimeoutMs: 30_000, logger: log });
    try {
      await worker.start();
      const leader = await c.leaderOf(queue);
      const onLeader = first === leader;
      const figures: Record<string, number> = {};
      let faultOver = false;
      const fault = (async () => {
        await sleep(500);
        const handledBefore = worker.handled().length;
        const killedAt = Date.now();
        await c.kill9(leader);
        try {
          if (onLeader) {
            await waitFor('the client to reconnect', () => (log.records.some((r) => /re-established/.test(r.message)) ? true : undefined), 30_000);
            figures['client reconnected after (ms)'] = Date.now() - killedAt;
          }
          // A figure, not a condition: RabbitMQ 3.10 may nack every publish to the queue for a while (README).
          const resumed = await waitFor('handling', () => (worker.handled().length > handledBefore + 200 ? true : undefined), 60_000).catch(() => false);
          figures['handling again after (ms)'] = resumed ? Date.now() - killedAt : -1;
          figures['new leader'] = await c.leaderOf(queue);
        } finally {
          await c.restart(leader); // also when this case failed: the next one needs all three nodes
        }
        figures['leader node back after (ms)'] = Date.now() - killedAt;
      })().finally(() => (faultOver = true));
      const published = await publish(client, queue, size(2000, 20_000), () => !faultOver);
      await fault;
      await waitFor('every confirmed task to be handled', () => {
        const handled = new Set(worker.handled());
        return [...published.confirmed].every((id) => handled.has(id)) ? true : undefined;
      }, 120_000).catch(() => undefined);
      // Results too: when the client's reply queue was on the killed node, it is declared again where it is now.
      expect(await (await client.send(faultTask(queue), [-1], {})).result({ timeoutMs: 30_000 })).to.equal(null);
      await worker.kill('SIGTERM');
      const sent = published.confirmed.size + published.rejected.size;
      const t = tally(`quorum leader tb${leader} killed, worker and client on tb${first}`, sent, published, worker.handled());
      figures['nacked (PublishError)'] = published.rejected.size;
      figures['of them sent after the node was back'] = published.after.filter((id) => published.rejected.has(id)).length;
      figures['publish channel reopened after nacks'] = log.records.filter((r) => r.message === 'publish channel gets only nacks; reopening it').length;
      process.stdout.write(`      ${Object.entries(figures).map(([k, v]) => `${k}: ${v}`).join(', ')}\n`);
      const reconnects = log.records.filter((r) => /^broker connection re-established$/.test(r.message)).map((r) => r.fields['broker']);
      if (onLeader) expect(reconnects[0]).to.be.a('string').and.not.equal(safeUrl(c.url(leader))); // moved on to another node
      else expect(reconnects).to.deep.equal([]); // its node stayed up: nothing to fail over
      expect(figures['new leader']).to.not.equal(leader);
      // A publish the queue could not take while it had no leader is nacked: the caller gets PublishError, never silence.
      expect([...published.rejected.values()].filter((code) => code !== 'E_PUBLISH')).to.deep.equal([]);
      expect(t.lost).to.equal(0);
      expect(t.confirmed).to.be.greaterThan(0);
    } catch (e) {
      process.stdout.write(`worker log:\n${worker.stderr}\nclient log:\n${log.records.map((r) => `${r.level} ${r.message} ${JSON.stringify(r.fields)}`).join('\n')}\n`);
      throw e;
    } finally {
      await client.close();
      await worker.dispose();
    }
  }

  it('worker and client on the leader: they fail over to another node, no confirmed task lost', () => failover('on-leader', 1));

  it('worker and client on a follower: the queue elects a new leader under them, no confirmed task lost', () => failover('on-follower', 2, 3));
});
