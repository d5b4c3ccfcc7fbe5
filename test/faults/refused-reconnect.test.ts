import { connectClient, untypedTask } from '@taskbus/runtime';
import { expect } from 'chai';
import { AMQP_URL, deleteQueues, rawBroker, recordingLogger, uniqueQueue, waitFor } from '../support/broker.js';
import { Forwarder } from '../support/forwarder.js';
import { sleep } from './harness.js';

/** Ports this suite may listen on, so nothing else on the machine is disturbed. */
const PORTS = [5330, 5331, 5332, 5333, 5334, 5335, 5336, 5337, 5338, 5339];

describe('a refused TCP connection after the first success is retried, not fatal', function () {
  this.timeout(60_000);
  const forwarder = new Forwarder();
  const queue = uniqueQueue('refused');

  before(async () => {
    const raw = await rawBroker();
    await raw.channel.assertQueue(queue, { durable: true });
    await raw.close();
    await forwarder.openAnyOf(PORTS);
  });
  after(async () => {
    await forwarder.shut();
    await deleteQueues(queue);
  });

  it('the client keeps reconnecting while the port refuses, then delivers once it is back', async () => {
    const log = recordingLogger();
    const url = `amqp://guest:guest@127.0.0.1:${forwarder.port}${new URL(AMQP_URL).pathname}`;
    const client = await connectClient({ url, logger: log, reconnect: { initialMs: 50, maxMs: 200 } });
    try {
      await forwarder.shut();
      await waitFor('the connection loss to be noticed', () => (log.records.some((r) => /lost/.test(r.message)) ? true : undefined));
      const sent = client.send(untypedTask('refused.job', queue), [], {}, { ignoreResult: true });
      await sleep(1500); // many attempts, each refused at once
      expect(log.records.filter((r) => /giving up/.test(r.message))).to.deep.equal([]);
      await forwarder.open(forwarder.port);
      await sent;
      expect(log.records.some((r) => /re-established/.test(r.message))).to.equal(true);
    } finally {
      await client.close();
    }
  });
});
