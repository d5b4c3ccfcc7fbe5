import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { connectClient, untypedTask } from '@taskbus/runtime';
import { expect } from 'chai';
import { AMQP_URL, deleteQueues, rawBroker, recordingLogger, uniqueQueue, waitFor } from '../support/broker.js';
import { sleep } from './harness.js';

/** Ports this suite may listen on, so nothing else on the machine is disturbed. */
const PORTS = [5330, 5331, 5332, 5333, 5334, 5335, 5336, 5337, 5338, 5339];

/** A TCP forwarder to the broker that can be shut (the port then refuses) and opened again on the same port. */
class Forwarder {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  port = 0;

  async open(port: number): Promise<void> {
    const broker = new URL(AMQP_URL);
    const server = createServer((client) => {
      const upstream = connect(Number(broker.port || 5672), broker.hostname);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => undefined).on('close', () => this.sockets.delete(s));
      }
      client.pipe(upstream).pipe(client);
    });
    server.listen(port, '127.0.0.1');
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([e]) => Promise.reject(e))]);
    this.server = server;
    this.port = port;
  }

  async openAnyOf(ports: readonly number[]): Promise<void> {
    for (const port of ports) if (await this.open(port).then(() => true, () => false)) return;
    throw new Error(`none of the ports ${ports.join(', ')} is free`);
  }

  /** Stops listening and cuts every connection: the client sees its connection die, then refusals. */
  async shut(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise((r) => server.close(r));
  }
}

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
