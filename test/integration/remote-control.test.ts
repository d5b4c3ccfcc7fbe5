import { Type } from '@sinclair/typebox';
import { connectClient, createWorker, defineTask, openControl, RemoteTaskError, silentLogger, type ControlClient, type Logger, type TaskClient, type Worker } from '@taskbus/runtime';
import { expect } from 'chai';
import { deleteQueues, queueDepth, rawBroker, recordingLogger, remoteFailure, uniqueQueue, VHOST, waitFor } from '../support/broker.js';
import { taskbus } from '../support/cli.js';
import { rabbitmqctl } from '../faults/harness.js';

const job = (queue: string) =>
  defineTask<[n: number], Record<string, never>, number>({ name: 'control.job', queue, args: { n: Type.Integer() }, result: Type.Integer() });

/** The replies of one command, by node. */
async function byNode(control: ControlClient, command: 'ping' | 'registered' | 'active' | 'active_queues' | 'stats'): Promise<Map<string, unknown>> {
  return new Map((await control.inspect(command)).map((r) => [r.node, r.reply]));
}


describe('remote control and revoke between TypeScript workers (real broker)', function () {
  this.timeout(60_000);
  const queues: string[] = [];
  const workers: Worker[] = [];
  let client: TaskClient;
  let control: ControlClient;

  function worker(queue: string, ran: number[], options: { name?: string; hold?: Promise<void>; logger?: Logger } = {}): Worker {
    const w = createWorker({ queues: [queue], logger: options.logger ?? silentLogger, reconnect: { initialMs: 50, maxMs: 200 }, ...(options.name ? { name: options.name } : {}) });
    w.register(job(queue), async ([n]) => {
      ran.push(n);
      await options.hold;
      return n * 2;
    });
    workers.push(w);
    return w;
  }

  before(async () => {
    client = await connectClient({ logger: silentLogger });
    control = await openControl();
  });

  after(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await control?.close();
    await client?.close();
    await deleteQueues(...queues);
  });

  it('a worker answers ping, registered, active_queues, active and stats under its name; taskbus inspect lists it', async () => {
    const queue = uniqueQueue('ctl');
    queues.push(queue);
    let release!: () => void;
    const hold = new Promise<void>((r) => (release = r));
    const ran: number[] = [];
    const w = worker(queue, ran, { name: `${queue}@%h`, hold });
    await w.start();
    expect(w.name).to.match(new RegExp(`^${queue}@.+`));
    expect((await byNode(control, 'ping')).get(w.name)).to.deep.equal({ ok: 'pong' });
    expect((await byNode(control, 'registered')).get(w.name)).to.deep.equal(['control.job']);
    expect(((await byNode(control, 'active_queues')).get(w.name) as { name: string }[]).map((q) => q.name)).to.deep.equal([queue]);

    const sent = await client.send(job(queue), [21], {});
    await waitFor('the task to run', () => (ran.length === 1 ? true : undefined));
    const active = (await byNode(control, 'active')).get(w.name) as Record<string, unknown>[];
    expect(active).to.have.length(1);
    expect(active[0]).to.deep.include({ id: sent.id, name: 'control.job', args: [21], hostname: w.name });
    release();
    expect(await sent.result()).to.equal(42);
    const stats = (await byNode(control, 'stats')).get(w.name) as Record<string, unknown>;
    expect(stats).to.deep.include({ pid: process.pid, total: { 'control.job': 1 } });

    const text = await taskbus(process.cwd(), 'inspect', 'ping');
    expect(text.code, text.stderr).to.equal(0);
    expect(text.stdout).to.include(`${w.name}: pong`);
    const json = await taskbus(process.cwd(), 'inspect', 'registered', '--json', '--destination', w.name);
    expect(json.code, json.stderr).to.equal(0);
    expect(json.stdout.trim().split('\n').map((l) => JSON.parse(l) as unknown)).to.deep.equal([{ node: w.name, reply: ['control.job'] }]);
  });

  it('taskbus revoke: a task not yet started is not run, its caller gets REVOKED, the delivery is acked', async () => {
    const queue = uniqueQueue('ctl-revoke');
    queues.push(queue);
    const ran: number[] = [];
    const w = worker(queue, ran);
    await w.start();
    const later = await client.send(job(queue), [1], {}, { countdown: 6 }); // the CLI's cold start must not outlast it under load
    const now = await client.send(job(queue), [2], {});
    const out = await taskbus(process.cwd(), 'revoke', later.id);
    expect(out.code, out.stderr).to.equal(0);
    expect(out.stdout).to.include(`${w.name}: tasks ${later.id} flagged as revoked`);
    expect(await now.result()).to.equal(4);
    const e = await remoteFailure(later.result({ timeoutMs: 10_000 }));
    expect(e).to.include({ state: 'REVOKED', code: 'E_TASK_REVOKED' });
    expect(e.message).to.match(/TaskRevokedError: revoked/);
    expect(ran).to.deep.equal([2]);
    const raw = await rawBroker();
    try {
      expect(await queueDepth(raw, queue)).to.equal(0);
    } finally {
      await raw.close();
    }
  });

  it('a worker started after a revoke learns it from a live worker (hello), and answers hello in turn', async () => {
    const [qa, qb, qc] = [uniqueQueue('ctl-a'), uniqueQueue('ctl-b'), uniqueQueue('ctl-c')];
    queues.push(qa, qb, qc);
    const a = worker(qa, []);
    await a.start();
    const queued = await client.send(job(qb), [7], {});
    const replies = await control.revoke([queued.id]);
    expect(replies.map((r) => r.node)).to.include(a.name);
    // b starts after the revoke: it was not there to hear it, and must learn it from a before consuming.
    const ranB: number[] = [];
    const b = worker(qb, ranB);
    await b.start();
    expect((await remoteFailure(queued.result({ timeoutMs: 10_000 }))).state).to.equal('REVOKED');
    expect(ranB).to.deep.equal([]);
    // a goes; c, started now, learns it from b.
    await a.stop();
    const c = worker(qc, []);
    await c.start();
    const revoked = new Map((await control.inspect('revoked')).map((r) => [r.node, r.reply]));
    expect(revoked.get(c.name)).to.include(queued.id);
  });

  /** A started worker on a queue of its own, its log recorded. */
  async function loggedWorker(prefix: string): Promise<{ queue: string; log: ReturnType<typeof recordingLogger>; w: Worker }> {
    const queue = uniqueQueue(prefix);
    queues.push(queue);
    const log = recordingLogger();
    const w = worker(queue, [], { logger: log });
    await w.start();
    return { queue, log, w };
  }

  it('the control channel comes back after its queue is deleted and after the connection is lost', async () => {
    const { queue, log, w } = await loggedWorker('ctl-recover');
    const raw = await rawBroker();
    try {
      // A request naming a reply exchange that does not exist is not served: the 404 would close the control channel.
      const body = { method: 'ping', arguments: {}, destination: [w.name], pattern: null, matcher: null, ticket: 't', reply_to: { exchange: 'no-such-exchange', routing_key: 'x' } };
      raw.channel.publish('celery.pidbox', '', Buffer.from(JSON.stringify(body)), { contentType: 'application/json' });
      await waitFor('the refusal', () => (log.records.some((r) => r.message === 'control reply refused: not to the reply exchange') ? true : undefined));
      expect(log.records.filter((r) => r.message.startsWith('worker control channel'))).to.deep.equal([]);
      await raw.channel.deleteQueue(`${w.name}.celery.pidbox`);
    } finally {
      await raw.close();
    }
    await waitFor('ping answered again after the queue was deleted', async () => ((await byNode(control, 'ping')).has(w.name) ? true : undefined), 20_000);
    const line = rabbitmqctl('list_connections', '-p', VHOST, 'pid', 'client_properties').split('\n').find((l) => l.includes(`taskbus worker ${queue}`))!;
    rabbitmqctl('close_connection', line.split('\t')[0]!, 'test: control reconnect');
    await waitFor('ping answered again after a reconnect', async () => ((await byNode(control, 'ping')).has(w.name) ? true : undefined), 20_000);
    // And tasks still run.
    const sent = await client.send(job(queue), [5], {});
    expect(await sent.result({ timeoutMs: 10_000 })).to.equal(10);
  });

  it('a clock header past an AMQP long (1e300), even on a request for another node, does not silence the worker', async () => {
    const { queue, log, w } = await loggedWorker('ctl-clock');
    const raw = await rawBroker();
    try {
      const confirmed = await raw.connection.createConfirmChannel();
      const body = { method: 'ping', arguments: {}, destination: ['nobody@nowhere'], pattern: null, matcher: null };
      confirmed.publish('celery.pidbox', '', Buffer.from(JSON.stringify(body)), { contentType: 'application/json', headers: { clock: { '!': 'double', value: 1e300 } } });
      await confirmed.waitForConfirms();
    } finally {
      await raw.close();
    }
    expect((await byNode(control, 'ping')).get(w.name)).to.deep.equal({ ok: 'pong' });
    expect(log.records.filter((r) => r.message === 'control command failed')).to.deep.equal([]);
  });

  it('taskbus inspect and revoke: usage errors exit 2, no answer exits 1, help shows examples', async () => {
    const bogus = await taskbus(process.cwd(), 'inspect', 'shutdown');
    expect(bogus.code).to.equal(2);
    expect(bogus.stderr).to.match(/unknown inspect command "shutdown"; use ping, registered, active, stats, active_queues/);
    const timeout = await taskbus(process.cwd(), 'inspect', 'ping', '--timeout', 'soon');
    expect(timeout.code).to.equal(2);
    const noIds = await taskbus(process.cwd(), 'revoke');
    expect(noIds.code).to.equal(2);
    const nobody = await taskbus(process.cwd(), 'inspect', 'ping', '--destination', 'nobody@nowhere', '--timeout', '300');
    expect(nobody.code).to.equal(1);
    expect(nobody.stderr).to.match(/no worker answered "ping" within 300 ms/);
    const lost = await taskbus(process.cwd(), 'revoke', 'some-id', '--destination', 'nobody@nowhere', '--timeout', '300');
    expect(lost.code).to.equal(1);
    expect(lost.stderr).to.match(/the revoke was sent, but no worker acknowledged it/);
    for (const command of ['inspect', 'revoke']) {
      const help = await taskbus(process.cwd(), command, '--help');
      expect(help.code).to.equal(0);
      expect(help.stdout).to.match(/Examples:\n  \$ taskbus /);
    }
  });
});
