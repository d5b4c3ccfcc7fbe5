import { execFileSync } from 'node:child_process';
import { DeadLetterAccessError, openDeadLetters } from '@taskbus/runtime';
import { expect } from 'chai';
import { AMQP_URL, queueDepth, rawBroker, uniqueQueue } from '../support/broker.js';
import { taskbus, TASKBUS_BIN } from '../support/cli.js';
import { runProcess } from '../support/process.js';

/** `taskbus dlq` against dead letters put straight into a `<queue>.dlq` of the test's own. */
describe('taskbus dlq on the real broker', function () {
  this.timeout(60_000);
  let raw: Awaited<ReturnType<typeof rawBroker>>;
  const created: string[] = [];

  before(async () => (raw = await rawBroker()));
  afterEach(async () => {
    for (const q of created.splice(0)) await raw.channel.deleteQueue(q);
  });
  after(() => raw.close());

  /** A durable queue of this test's own, deleted after each test. */
  async function ownQueue(name: string): Promise<string> {
    await raw.channel.assertQueue(name, { durable: true });
    created.push(name);
    return name;
  }

  /** A dead letter as the worker writes it: original body and headers plus the x-taskbus-* ones. */
  function putDeadLetter(queue: string, id: string, from = queue): void {
    raw.channel.sendToQueue(`${queue}.dlq`, Buffer.from(`[["${id}"], {}, {}]`), {
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      correlationId: id,
      persistent: true,
      headers: { task: 'dlq.job', id, retries: 2, 'x-taskbus-reason': 'failed', 'x-taskbus-error': `Error: ${id}`, 'x-taskbus-queue': from, 'x-taskbus-failed-at': '2026-01-01T00:00:00.000Z' },
    });
  }

  async function readAll<T>(items: AsyncIterable<T>): Promise<T[]> {
    const all: T[] = [];
    for await (const item of items) all.push(item);
    return all;
  }

  /** Empties a queue of the test's own, returning the task ids in queue order. */
  async function drainIds(queue: string): Promise<string[]> {
    const ids: string[] = [];
    for (let m = await raw.channel.get(queue, { noAck: true }); m; m = await raw.channel.get(queue, { noAck: true })) ids.push(String(m.properties.headers?.['id']));
    return ids;
  }

  it('list streams every dead letter once, in queue order, and leaves the queue as it was', async () => {
    const queue = uniqueQueue('dlq-list');
    await ownQueue(`${queue}.dlq`);
    const ids = Array.from({ length: 250 }, (_, i) => `t-${String(i).padStart(3, '0')}`);
    for (const id of ids) putDeadLetter(queue, id);
    await raw.channel.checkQueue(`${queue}.dlq`); // a round trip: the publishes above are in

    const run = await taskbus('.', 'dlq', 'list', queue);
    expect(run.code, run.stderr).to.equal(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines.slice(0, -1).map((l) => l.split('\t')[0])).to.deep.equal(ids);
    expect(lines.at(-1)).to.equal(`250 dead-lettered tasks in ${queue}.dlq`);
    expect(await drainIds(`${queue}.dlq`)).to.deep.equal(ids);
  });

  it('list shows control characters in header text escaped: a newline cannot forge a line, escapes never reach the terminal', async () => {
    const queue = uniqueQueue('dlq-escape');
    await ownQueue(`${queue}.dlq`);
    putDeadLetter(queue, 'forged\nfake-id\tdlq.job\tfailed\x1b]0;pwned\x07\x1b[2K');
    await raw.channel.checkQueue(`${queue}.dlq`);
    const run = await taskbus('.', 'dlq', 'list', queue);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout.trim().split('\n')).to.have.length(2);
    expect(run.stdout).not.to.match(/[\x00-\x08\x0b-\x1f\x7f]/);
    expect(run.stdout).to.include('forged\\u000afake-id\\u0009dlq.job');
  });

  it('list holds one dead letter at a time in this process, and does not read what arrives during the pass', async () => {
    const queue = uniqueQueue('dlq-stream');
    await ownQueue(`${queue}.dlq`);
    const ids = ['a', 'b', 'c', 'd', 'e'];
    for (const id of ids) putDeadLetter(queue, id);
    await raw.channel.checkQueue(`${queue}.dlq`);

    const dlq = await openDeadLetters(queue, { url: AMQP_URL });
    const seen: string[] = [];
    try {
      for await (const d of dlq.list()) {
        if (seen.length === 0) {
          // Only the first has been taken from the broker so far, and a newcomer goes behind the pass.
          expect(await queueDepth(raw, `${queue}.dlq`)).to.equal(ids.length - 1);
          putDeadLetter(queue, 'late');
          await raw.channel.checkQueue(`${queue}.dlq`);
        }
        seen.push(d.id);
      }
    } finally {
      await dlq.close();
    }
    expect(seen).to.deep.equal(ids);
    expect(await drainIds(`${queue}.dlq`)).to.deep.equal([...ids, 'late']);
  });

  it('replay with one target queue deleted moves the routable dead letter exactly once and keeps the other, naming its queue', async () => {
    const queue = uniqueQueue('dlq-replay');
    const gone = uniqueQueue('dlq-gone');
    await ownQueue(`${queue}.dlq`);
    await ownQueue(queue);
    await raw.channel.assertQueue(gone, { durable: true });
    await raw.channel.deleteQueue(gone);
    putDeadLetter(queue, 'to-gone', gone);
    putDeadLetter(queue, 'to-live', queue);
    await raw.channel.checkQueue(`${queue}.dlq`);

    const run = await taskbus('.', 'dlq', 'replay', queue);
    expect(run.code).to.equal(1);
    expect(run.stdout).to.match(/^replayed 1 task from /m);
    expect(run.stderr.trim()).to.equal(`taskbus: kept 1 dead letter in "${queue}.dlq": no queue "${gone}" to replay into (start its worker or declare it, then replay again)`);

    expect(await drainIds(`${queue}.dlq`)).to.deep.equal(['to-gone']);
    const replayed = await raw.channel.get(queue, { noAck: true });
    expect(replayed && replayed.properties.headers).to.include({ id: 'to-live', retries: 0 });
    expect(replayed && Object.keys(replayed.properties.headers ?? {}).filter((k) => k.startsWith('x-taskbus-'))).to.deep.equal([]);
    expect(await raw.channel.get(queue, { noAck: true })).to.equal(false);
  });

  it('a user who may not read the dead-letter queue is told so, not that there is none, and never sees the password', async () => {
    const queue = uniqueQueue('dlq-403');
    await ownQueue(`${queue}.dlq`);
    putDeadLetter(queue, 'secret-task');
    const user = uniqueQueue('dlq-reader');
    const password = `pw-${user}`;
    const url = new URL(AMQP_URL);
    const vhost = decodeURIComponent(url.pathname.slice(1)) || '/';
    execFileSync('rabbitmqctl', ['-q', 'add_user', user, password]);
    try {
      // Access to the vhost, but no configure, write or read permission on anything in it.
      execFileSync('rabbitmqctl', ['-q', 'set_permissions', '-p', vhost, user, '', '', '']);
      url.username = user;
      url.password = password;
      for (const action of ['list', 'replay', 'purge']) {
        const run = await runProcess(process.execPath, [TASKBUS_BIN, 'dlq', action, queue], { env: { AMQP_URL: url.toString() } });
        expect(run.code, `${action}: ${run.stderr}`).to.equal(1);
        expect(run.stderr, action).to.match(new RegExp(`^taskbus: RabbitMQ refused access to "${queue}\\.dlq" \\(.*403.*ACCESS_REFUSED - .*user '${user}'.*\\); give the user in AMQP_URL read permission`));
        expect(run.stderr + run.stdout, action).not.to.include(password);
      }
      const dlq = await openDeadLetters(queue, { url: url.toString() });
      const err = await readAll(dlq.list()).then(() => null, (e: unknown) => e);
      await dlq.close();
      expect(err).to.be.instanceOf(DeadLetterAccessError).and.have.property('code', 'E_DLQ_ACCESS_REFUSED');
    } finally {
      execFileSync('rabbitmqctl', ['-q', 'delete_user', user]);
    }
    expect(await queueDepth(raw, `${queue}.dlq`)).to.equal(1);
  });

  it('a dead-letter queue that exists but cannot be opened says why, not that there is none', async () => {
    const queue = uniqueQueue('dlq-locked');
    // Another connection's exclusive queue: a passive declare of it is refused with 405 RESOURCE_LOCKED.
    const holder = await rawBroker();
    try {
      await holder.channel.assertQueue(`${queue}.dlq`, { exclusive: true });
      const run = await taskbus('.', 'dlq', 'list', queue);
      expect(run.code).to.equal(1);
      expect(run.stderr).to.match(new RegExp(`^taskbus: cannot open "${queue}\\.dlq": .*405.*RESOURCE_LOCKED`));
    } finally {
      await holder.close();
    }
  });

  it('on a queue that never dead-lettered anything it says there is no dead-letter queue', async () => {
    const run = await taskbus('.', 'dlq', 'list', uniqueQueue('no-such-queue'));
    expect(run.code).to.equal(1);
    expect(run.stderr).to.match(/^taskbus: there is no dead-letter queue "no-such-queue-\w+\.dlq" \(nothing was ever dead-lettered from/);
  });
});
