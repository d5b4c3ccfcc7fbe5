import { once } from 'node:events';
import amqp, { type Channel, type ChannelModel, type Message } from 'amqplib';
import { expect } from 'chai';
import { closeChannel } from '../../runtime/src/amqp/close.js';
import { plainChannelKeeper } from '../../runtime/src/channel-keeper.js';
import { Reconnector } from '../../runtime/src/reconnect.js';
import { AMQP_URL, recordingLogger, VHOST, waitFor } from '../support/broker.js';
import { Forwarder } from '../support/forwarder.js';
import { rabbitmqctl } from '../faults/harness.js';

/** Closes, from the broker's side, the connection this process opened under `name`, and waits for it to go. */
async function closeFromBroker(connection: ChannelModel, name: string): Promise<void> {
  const line = rabbitmqctl('list_connections', '-p', VHOST, 'pid', 'client_properties').split('\n').find((l) => l.includes(name));
  if (!line) throw new Error(`no connection named ${name}`);
  const closed = once(connection, 'close');
  rabbitmqctl('close_connection', line.split('\t')[0]!, 'test: closed during set-up');
  await closed;
}

/** Has the broker close `channel` (an ack of a delivery tag it never gave: 406) and waits for the close. */
async function closedByBroker(channel: Channel): Promise<void> {
  channel.on('error', () => undefined);
  const closed = new Promise((resolve) => channel.once('close', resolve)); // events.once would reject on the 'error'
  channel.ack({ fields: { deliveryTag: 987654321 } } as Message);
  await closed;
}

/**
 * Fault 3 under CI load once left a worker connected to nothing, its queue filling: a set-up whose steps only
 * log their failures (the dead-letter declaration, a consume skipped on a closed channel) finished without an
 * error on a connection the broker had closed under it, and a declaration channel's close() never settled
 * once its connection died before the close-ok. Each is covered here on the real broker.
 */
describe('a connection whose set-up is cut or stuck is not taken for connected', function () {
  this.timeout(60_000);

  it('closing a channel settles when the connection dies before the close-ok (amqplib\'s close() would wait for ever)', async () => {
    const forwarder = new Forwarder();
    await forwarder.openAnyOf([5824, 5825, 5826]);
    const connection = await amqp.connect(AMQP_URL.replace(/:\d+(?=\/|$)/, `:${forwarder.port}`));
    connection.on('error', () => undefined);
    try {
      const channel = await connection.createChannel();
      forwarder.freeze(); // the close goes out but never reaches the broker, so no close-ok comes back
      let settled = false;
      const closing = closeChannel(channel).then(() => (settled = true));
      await new Promise((r) => setTimeout(r, 300));
      expect(settled, 'settled before the connection died').to.equal(false);
      forwarder.cut();
      await waitFor('the close to settle', () => (settled ? true : undefined), 5000);
      await closing;
    } finally {
      await forwarder.shut();
    }
  });

  it('after a reconnect: the set-up is run again on a new connection', async () => {
    const name = `taskbus reconnect-setup ${process.pid}-${Date.now()}`;
    const log = recordingLogger();
    let setups = 0;
    const reconnector = new Reconnector(
      { url: AMQP_URL, connectionName: name, reconnect: { initialMs: 50, maxMs: 200 } },
      log,
      async (connection) => {
        setups++;
        if (setups === 2) await closeFromBroker(connection, name); // and finish as if all went well
      },
      () => undefined,
      (e) => expect.fail(`gave up: ${String(e)}`),
    );
    try {
      await reconnector.start();
      await closeFromBroker(reconnector.current!, name);
      await waitFor('a third set-up, on a live connection', () => (setups >= 3 && reconnector.current ? true : undefined));
      expect(log.records.some((r) => r.message === 'set-up after reconnect failed; retrying' && String(r.fields['error']).includes('closed while it was being set up'))).to.equal(true);
    } finally {
      await reconnector.close();
    }
  });

  it('a set-up that never settles: past its deadline the connection is dropped and set up again', async () => {
    const name = `taskbus reconnect-setup-hang ${process.pid}-${Date.now()}`;
    const log = recordingLogger();
    const connections: ChannelModel[] = [];
    const reconnector = new Reconnector(
      { url: AMQP_URL, connectionName: name, reconnect: { initialMs: 50, maxMs: 200 } },
      log,
      async (connection) => {
        connections.push(connection);
        if (connections.length === 2) await new Promise(() => undefined); // hangs, as a close awaiting a close-ok did
      },
      () => undefined,
      (e) => expect.fail(`gave up: ${String(e)}`),
      500,
    );
    try {
      await reconnector.start();
      await closeFromBroker(reconnector.current!, name);
      await waitFor('a third set-up, on a live connection', () => (connections.length >= 3 && reconnector.current === connections[2] ? true : undefined));
      expect(log.records.some((r) => r.message === 'set-up after reconnect failed; retrying' && String(r.fields['error']).includes('did not finish within 500 ms'))).to.equal(true);
      const stuck = connections[1]!;
      await waitFor('the stuck connection to be gone', () => (rabbitmqctl('list_connections', '-p', VHOST, 'client_properties').split(name).length === 2 ? true : undefined));
      expect(stuck).to.not.equal(reconnector.current);
    } finally {
      await reconnector.close();
    }
  });

  it('a channel the broker closes during its set-up (which still finishes) is reopened, not kept as open', async () => {
    const connection = await amqp.connect(AMQP_URL);
    connection.on('error', () => undefined);
    let setups = 0;
    let closeNext = true;
    const keeper = plainChannelKeeper(connection, {
      name: 'test channel',
      log: recordingLogger(),
      backoff: { initialMs: 20, maxMs: 100 },
      setup: async (channel) => {
        setups++;
        if (closeNext) await closedByBroker(channel); // and finish as if all went well
      },
    });
    try {
      const failure = await keeper.open().then(() => null, (e: unknown) => e);
      expect(failure, 'the first open').to.have.property('code', 'E_SETUP_INTERRUPTED');
      closeNext = false;
      await keeper.open();
      closeNext = true;
      const before = setups;
      await closedByBroker(keeper.current!); // the keeper reopens it, and that set-up is cut too
      await waitFor('a reopen cut during its set-up', () => (setups > before ? true : undefined));
      closeNext = false;
      const cut = setups;
      await waitFor('an open channel after a set-up that was not cut', () => (setups > cut && keeper.current ? true : undefined));
      const live = keeper.current!;
      await live.assertQueue('', { exclusive: true }); // it answers: open for real
    } finally {
      keeper.stop();
      await connection.close();
    }
  });

  it('at start: start() fails with a typed error instead of resolving on a dead connection', async () => {
    const name = `taskbus reconnect-setup-start ${process.pid}-${Date.now()}`;
    const reconnector = new Reconnector(
      { url: AMQP_URL, connectionName: name },
      recordingLogger(),
      (connection) => closeFromBroker(connection, name),
      () => undefined,
      () => undefined,
    );
    const failure = await reconnector.start().then(() => null, (e: unknown) => e);
    expect(failure).to.have.property('code', 'E_SETUP_INTERRUPTED');
    expect(String((failure as Error).message)).to.not.include('guest:guest');
  });
});
