import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { Type } from '@sinclair/typebox';
import { connectClient, createWorker, defineTask, safeUrl } from '@taskbus/runtime';
import { expect } from 'chai';
import { AMQP_URL, connectedTo, connectFailure, deleteQueues, recordingLogger, uniqueQueue, VHOST, waitFor } from '../support/broker.js';
import { TASKBUS_BIN } from '../support/cli.js';
import { Forwarder } from '../support/forwarder.js';
import { openedPerTest } from '../support/scope.js';
import { runProcess } from '../support/process.js';

// Hostile AMQP_URL lists (issue 10, item 5): each case failed on main before its fix.

/** Ports this suite may listen on (broker-list.test.ts uses 5340-5359). */
const PORTS = Array.from({ length: 10 }, (_, i) => 5360 + i);
const broker = new URL(AMQP_URL);
const ctl = (...args: string[]) => execFileSync('rabbitmqctl', args, { encoding: 'utf8', timeout: 60_000 });
const urlAt = (port: number, vhostPath = broker.pathname) =>
  `amqp://${broker.username}:${broker.password}@127.0.0.1:${port}${vhostPath}`;

describe('AMQP_URL lists, hostile cases', function () {
  this.timeout(60_000);
  const queue = uniqueQueue('broker-list-hostile');
  const double = defineTask<[n: number], Record<string, never>, number>({ name: 'hostile.double', queue, args: { n: Type.Integer() }, result: Type.Integer() });
  const opened = openedPerTest();
  const track = opened.track.bind(opened);
  after(() => deleteQueues(queue));

  it('a non-ASCII password logs in (amqplib would unescape() its UTF-8 as Latin-1)', async () => {
    const user = `taskbus-uni-${randomUUID().slice(0, 8)}`;
    const password = 'pässwörd-€-секрет';
    ctl('add_user', user, password);
    try {
      ctl('set_permissions', '-p', VHOST, user, '.*', '.*', '.*');
      for (const pw of [password, encodeURIComponent(password)]) {
        const url = `amqp://${user}:${pw}@${broker.host}${broker.pathname}`;
        const other = `amqp://${user}:${pw}@127.0.0.1:1${broker.pathname}`;
        track(await connectClient({ url: `${other};${url}`, logger: recordingLogger() }));
      }
    } finally {
      await opened.closeAll();
      ctl('delete_user', user);
    }
  });

  it('an empty entry (";;" or a trailing ";") is E_BAD_URL, not a vhost ending in ";"', async () => {
    for (const list of [`${AMQP_URL};`, `${AMQP_URL};;${AMQP_URL}`, `${AMQP_URL}; ;${AMQP_URL}`]) {
      const error = await connectFailure(connectClient({ url: list, logger: recordingLogger() }));
      expect(error.code, list).to.equal('E_BAD_URL');
      expect(error.message).to.include('empty entry');
      if (broker.password.length >= 4) expect(error.message).not.to.include(broker.password);
    }
  });

  it('a password holding digits then ";amqp://" is not printed in part', async () => {
    const list = 'amqp://u:8080;amqp://Hunter@127.0.0.1:1/v;amqp://u:x@127.0.0.1:2/v';
    const error = await connectFailure(connectClient({ url: list, logger: recordingLogger(), connectTimeoutMs: 2000 }));
    expect(error.message).not.to.include('8080');
    for (const u of (error as { urls?: string[] }).urls ?? []) expect(u).not.to.include('8080');
  });

  it('after a loss, a node that refuses the vhost is skipped: the worker and client go on with the next node', async () => {
    const a = new Forwarder();
    await a.openAnyOf(PORTS);
    const port = Number(broker.port || 5672);
    const missing = `/${encodeURIComponent(`no-such-vhost-${randomUUID().slice(0, 8)}`)}`;
    try {
      const list = [urlAt(a.port), urlAt(port, missing), urlAt(port)].join(';');
      const workerLog = recordingLogger();
      const clientLog = recordingLogger();
      const w = track(createWorker({ url: list, logger: workerLog, reconnect: { initialMs: 50, maxMs: 500 } }));
      w.register(double, ([n]) => n * 2);
      await w.start();
      const client = track(await connectClient({ url: list, logger: clientLog, reconnect: { initialMs: 50, maxMs: 500 } }));
      expect(await (await client.send(double, [1], {})).result({ timeoutMs: 10_000 })).to.equal(2);
      a.cut();
      await waitFor('client and worker on the third node', () =>
        [clientLog, workerLog].every((l) => connectedTo(l.records).at(-1) === safeUrl(urlAt(port))) ? true : undefined,
      );
      expect(await (await client.send(double, [2], {})).result({ timeoutMs: 10_000 })).to.equal(4);
    } finally {
      await a.shut();
    }
  });

  it('a node that takes connections and drops each soon after is not reconnected to in a tight loop', async () => {
    // Accepts, lets the handshake and set-up through, and cuts every connection 400 ms after it opened
    // (a node shutting down, a proxy with a short idle timeout, a partitioned node closing clients).
    const sockets = new Set<Socket>();
    const server = createServer((client) => {
      const upstream = connect(Number(broker.port || 5672), broker.hostname);
      for (const s of [client, upstream]) sockets.add(s.on('error', () => undefined).on('close', () => sockets.delete(s)));
      client.pipe(upstream).pipe(client);
      setTimeout(() => (client.destroy(), upstream.destroy()), 400);
    });
    server.listen(PORTS[9], '127.0.0.1');
    await once(server, 'listening');
    try {
      const log = recordingLogger();
      track(await connectClient({ url: urlAt(PORTS[9]!), logger: log, reconnect: { initialMs: 200, maxMs: 10_000 } }));
      await new Promise((r) => setTimeout(r, 8000));
      const reconnects = log.records.filter((r) => r.message === 'broker connection re-established').length;
      // A stable connection resets the backoff; one that dies within seconds must not: ~16 reconnects
      // in 8 s without backoff, ~5 with it.
      expect(reconnects).to.be.below(10);
    } finally {
      await opened.closeAll();
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });

  it('taskbus export asyncapi reads AMQP_URL as the runtime does: no empty entry as a vhost, no password head as a host', async () => {
    const exportWith = (url: string) => runProcess(process.execPath, [TASKBUS_BIN, 'export', 'asyncapi'], { cwd: process.cwd(), env: { AMQP_URL: url } });
    const trailing = await exportWith('amqp://deployer:pa55-w0rd@rabbit-1:5672/prod;');
    expect(trailing.code, trailing.stdout.slice(-300)).to.equal(2);
    expect(trailing.stderr).to.include('empty entry');
    const head = await exportWith('amqp://deployer:8080;amqp://Hunter@rabbit-1:5672/prod;amqp://deployer:x@rabbit-2:5672/prod');
    expect(head.stdout + head.stderr).not.to.include('8080');
  });
});
