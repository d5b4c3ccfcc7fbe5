import { Type } from '@sinclair/typebox';
import { BrokerAccessRefusedError, BrokerUnreachableError, connectClient, createWorker, defineTask, TaskbusError, TopologyError, type ConnectOptions } from '@taskbus/runtime';
import { expect } from 'chai';
import { recordingLogger, uniqueQueue } from '../support/broker.js';
import { rabbitmqctl } from './harness.js';
import { TestPki, tlsProxy } from './tls-proxy.js';

/** Runs `open`, expecting a rejection; returns it with how long it took. */
async function refused(open: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = Date.now();
  try {
    const opened = (await open()) as { close?: () => Promise<void>; stop?: () => Promise<void> };
    await (opened.close ?? opened.stop)?.call(opened);
  } catch (error) {
    return { error, ms: Date.now() - started };
  }
  throw new Error('expected the connection to be refused');
}

describe('fault 8: wrong credentials and missing permissions fail fast, without the password', function () {
  this.timeout(60_000);
  const user = `taskbus_noperm_${process.pid}`;
  const password = `pw-${process.pid}-s3cret`;
  const spec = defineTask<[], Record<string, never>, null>({ name: 'auth.job', queue: uniqueQueue('auth'), args: {}, result: Type.Null() });

  before(() => {
    rabbitmqctl('add_user', user, password);
    rabbitmqctl('set_permissions', '-p', '/', user, '^$', '^$', '^$');
  });
  after(() => void rabbitmqctl('delete_user', user));

  it('a wrong password: the client and the worker refuse at once with a typed error, no retry', async () => {
    const log = recordingLogger();
    const url = `amqp://guest:${password}@127.0.0.1:5672`;
    const client = await refused(() => connectClient({ url, logger: log }));
    expect(client.error).to.be.instanceOf(BrokerAccessRefusedError);
    expect(client.ms).to.be.lessThan(3000);
    const worker = createWorker({ url, logger: log });
    worker.register(spec, () => null);
    const started = await refused(() => worker.start());
    expect(started.error).to.be.instanceOf(BrokerAccessRefusedError);
    for (const text of [String(client.error), String(started.error), JSON.stringify(log.records)]) expect(text).not.to.include(password);
    expect(log.records.filter((r) => /reconnect/.test(r.message))).to.deep.equal([]);
  });

  it('a user without permission on the queue: a typed error naming the queue, no retry storm', async () => {
    const log = recordingLogger();
    const url = `amqp://${user}:${password}@127.0.0.1:5672`;
    const client = await connectClient({ url, logger: log }).catch((e: unknown) => e);
    // No permissions at all means even the reply queue cannot be declared: refused at connect.
    expect(client).to.be.instanceOf(TopologyError);
    const worker = createWorker({ url, logger: log });
    worker.register(spec, () => null);
    const started = await refused(() => worker.start());
    expect(started.error).to.be.instanceOf(TopologyError);
    expect(started.ms).to.be.lessThan(3000);
    expect(String(started.error)).to.include(spec.queue);
    expect(String(started.error)).to.match(/ACCESS_REFUSED|access/i);
    await new Promise((r) => setTimeout(r, 1500));
    expect(log.records.filter((r) => /reconnect/.test(r.message))).to.deep.equal([]);
    for (const text of [String(client), String(started.error), JSON.stringify(log.records)]) expect(text).not.to.include(password);
    expect(rabbitmqctl('list_connections', 'user').split('\n').filter((l) => l.trim() === user)).to.deep.equal([]);
  });
});

describe('fault 9: TLS fails closed', function () {
  this.timeout(60_000);
  const pki = new TestPki();
  let good: Awaited<ReturnType<typeof tlsProxy>>;
  let wrongName: Awaited<ReturnType<typeof tlsProxy>>;
  let mutual: Awaited<ReturnType<typeof tlsProxy>>;

  before(async () => {
    pki.ca('trusted-ca');
    pki.ca('other-ca');
    pki.cert('server', 'trusted-ca', 'localhost');
    pki.cert('wrong-name', 'trusted-ca', 'wrong.example');
    pki.cert('client', 'trusted-ca', 'taskbus-client');
    good = await tlsProxy({ cert: pki.read('server.pem'), key: pki.read('server.key') });
    wrongName = await tlsProxy({ cert: pki.read('wrong-name.pem'), key: pki.read('wrong-name.key') });
    mutual = await tlsProxy({ cert: pki.read('server.pem'), key: pki.read('server.key'), clientCa: pki.read('trusted-ca.pem') });
  });
  after(async () => {
    await Promise.all([good?.close(), wrongName?.close(), mutual?.close()]);
    pki.dispose();
  });

  const amqps = (port: number) => `amqps://guest:guest@localhost:${port}`;
  const open = (options: ConnectOptions) => connectClient({ connectTimeoutMs: 3000, ...options });

  it('the right CA and host name connect (the control case)', async () => {
    const client = await open({ url: amqps(good.port), tls: { ca: pki.read('trusted-ca.pem') } });
    await client.close();
  });

  for (const [name, options, type] of [
    ['a certificate from an untrusted CA', () => ({ url: amqps(good.port), tls: { ca: pki.read('other-ca.pem') } }), 'E_TLS'],
    ['no CA configured (system trust only)', () => ({ url: amqps(good.port), tls: {} }), 'E_TLS'],
    ['a certificate for another host name', () => ({ url: amqps(wrongName.port), tls: { ca: pki.read('trusted-ca.pem') } }), 'E_TLS'],
    ['plain AMQP to the TLS port', () => ({ url: `amqp://guest:guest@localhost:${good.port}`, tls: {} }), 'E_BROKER_UNREACHABLE'],
    ['a broker requiring a client certificate, without one', () => ({ url: amqps(mutual.port), tls: { ca: pki.read('trusted-ca.pem') } }), 'E_TLS'],
  ] as const) {
    it(`refuses ${name}`, async () => {
      const { error, ms } = await refused(() => open(options()));
      expect(error).to.be.instanceOf(TaskbusError);
      expect((error as TaskbusError).code).to.equal(type);
      expect(ms).to.be.lessThan(5000);
      expect(String(error)).not.to.include('guest:guest');
      if (type === 'E_BROKER_UNREACHABLE') expect(error).to.be.instanceOf(BrokerUnreachableError);
    });
  }

  it('with the client certificate, the mutual-TLS broker accepts', async () => {
    const client = await open({ url: amqps(mutual.port), tls: { ca: pki.read('trusted-ca.pem'), cert: pki.read('client.pem'), key: pki.read('client.key') } });
    await client.close();
  });

  it('skipping verification takes an explicit insecure: true', async () => {
    const client = await open({ url: amqps(wrongName.port), tls: { insecure: true } });
    await client.close();
  });
});
