import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { Type } from '@sinclair/typebox';
import { connectClient, createWorker, defineTask, safeUrl, type Worker } from '@taskbus/runtime';
import { expect } from 'chai';
import { AMQP_URL, connectedTo, connectFailure, deleteQueues, recordingLogger, uniqueQueue, waitFor } from '../support/broker.js';
import { Forwarder } from '../support/forwarder.js';
import { openedPerTest } from '../support/scope.js';

/** Ports this suite may listen on (other suites use 5330-5339). */
const PORTS = Array.from({ length: 20 }, (_, i) => 5340 + i);
const broker = new URL(AMQP_URL);
const urlAt = (port: number, password = decodeURIComponent(broker.password)) =>
  `amqp://${broker.username}:${encodeURIComponent(password)}@127.0.0.1:${port}${broker.pathname}`;

/** A local port that refuses at once: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

describe('AMQP_URL with several brokers separated by ;', function () {
  this.timeout(60_000);
  const queue = uniqueQueue('broker-list');
  const double = defineTask<[n: number], Record<string, never>, number>({ name: 'list.double', queue, args: { n: Type.Integer() }, result: Type.Integer() });
  const opened = openedPerTest();
  const track = opened.track.bind(opened);
  after(() => deleteQueues(queue));

  async function worker(url: string, log = recordingLogger()): Promise<Worker> {
    const w = track(createWorker({ url, logger: log, reconnect: { initialMs: 50, maxMs: 500 } }));
    w.register(double, ([n]) => n * 2);
    await w.start();
    return w;
  }

  it('skips a first entry that refuses, connects to the next, and logs which one (redacted)', async () => {
    const list = `${urlAt(await closedPort())};${AMQP_URL}`;
    const clientLog = recordingLogger();
    const workerLog = recordingLogger();
    await worker(list, workerLog);
    const client = track(await connectClient({ url: list, logger: clientLog }));
    expect(await (await client.send(double, [21], {})).result({ timeoutMs: 10_000 })).to.equal(42);
    for (const log of [clientLog, workerLog]) expect(connectedTo(log.records)).to.deep.equal([safeUrl(AMQP_URL)]);
    expect(safeUrl(AMQP_URL)).not.to.include(`:${broker.password}@`);
  });

  it('fails fast when none answers, with E_BROKER_UNREACHABLE naming every URL tried, redacted', async () => {
    const urls = [urlAt(await closedPort(), 'list-secret-1'), urlAt(await closedPort(), 'list-secret-2')];
    const started = Date.now();
    const error = await connectFailure(connectClient({ url: urls.join(';'), logger: recordingLogger() }));
    expect(Date.now() - started).to.be.below(5000);
    expect(error.code).to.equal('E_BROKER_UNREACHABLE');
    expect(error).to.have.deep.property('urls', urls.map(safeUrl));
    for (const u of urls) expect(error.message).to.include(safeUrl(u));
    expect(error.message).not.to.include('list-secret');
  });

  it('a refused login is final: the next broker of the list is not tried', async () => {
    const error = await connectFailure(connectClient({ url: `${urlAt(Number(broker.port || 5672), 'wrong-list-secret')};${AMQP_URL}`, logger: recordingLogger() }));
    expect(error.code).to.equal('E_BROKER_ACCESS_REFUSED');
    expect(error.message).not.to.include('wrong-list-secret');
  });

  it('client and worker move to the next broker when their connection drops, and come back to the first when that one goes', async () => {
    const [a, b] = [new Forwarder(), new Forwarder()];
    await a.openAnyOf(PORTS);
    await b.openAnyOf(PORTS.filter((p) => p !== a.port));
    try {
      const [urlA, urlB] = [urlAt(a.port), urlAt(b.port)];
      const clientLog = recordingLogger();
      const workerLog = recordingLogger();
      await worker(`${urlA};${urlB}`, workerLog);
      const client = track(await connectClient({ url: `${urlA};${urlB}`, logger: clientLog, reconnect: { initialMs: 50, maxMs: 500 } }));
      const roundTrip = async (n: number) => expect(await (await client.send(double, [n], {})).result({ timeoutMs: 15_000 })).to.equal(2 * n);
      const reconnectedTo = (url: string) =>
        waitFor(`client and worker on ${safeUrl(url)}`, () =>
          [clientLog, workerLog].every((l) => connectedTo(l.records).at(-1) === safeUrl(url)) ? true : undefined,
        );
      await roundTrip(1);
      a.cut(); // a up again at once: still, the next broker is b
      await reconnectedTo(urlB);
      await roundTrip(2);
      await b.shut();
      await reconnectedTo(urlA);
      await roundTrip(3);
      for (const log of [clientLog, workerLog]) expect(connectedTo(log.records)).to.deep.equal([urlA, urlB, urlA].map(safeUrl));
    } finally {
      await a.shut();
      await b.shut();
    }
  });
});
