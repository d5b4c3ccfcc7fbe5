import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { connectClient, createWorker, defineTask, MetricsServerError, silentLogger, type TaskClient, type Worker } from '@taskbus/runtime';
import { expect } from 'chai';
import { Registry } from 'prom-client';
import { AMQP_URL, rawBroker, uniqueQueue, waitFor } from '../support/broker.js';
import { Forwarder } from '../support/forwarder.js';

/** One scrape as `name{label="v",...}` -> value, labels in the order prom-client prints them. */
type Scrape = ReadonlyMap<string, number>;

async function scrape(port: number): Promise<Scrape> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).to.equal(200);
  expect(res.headers.get('content-type')).to.match(/^text\/plain/);
  const series = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    series.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return series;
}

// Ports 19100-19199 are this suite's to use.
const PORT = 19_131;
const FORWARDER_PORTS = [19_150, 19_151, 19_152];

/** One registry's text as `name{labels}` -> value, without HTTP. */
async function read(registry: Registry): Promise<Scrape> {
  const series = new Map<string, number>();
  for (const line of (await registry.metrics()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    series.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return series;
}

describe('worker and client metrics, scraped over HTTP after a known workload', function () {
  this.timeout(60_000);
  const queue = uniqueQueue('metrics-it');
  // A version given explicitly, and one read from the `_v2` suffix of a spec without one.
  const steady = defineTask<[label: string], Record<string, never>, string>({
    name: 'metrics.steady',
    version: 3,
    queue,
    args: { label: Type.String() },
    result: Type.String(),
    retry: { maxAttempts: 2, initialDelayMs: 100 },
  });
  const broken = defineTask<[label: string], Record<string, never>, string>({
    name: 'metrics.broken_v2',
    queue,
    args: { label: Type.String() },
    result: Type.String(),
  });
  const failOnce = new Set<string>();
  const registry = new Registry();
  let worker: Worker;
  let client: TaskClient;
  let raw: Awaited<ReturnType<typeof rawBroker>>;

  before(async () => {
    raw = await rawBroker();
    worker = createWorker({ logger: silentLogger, metrics: { registry, port: PORT } });
    worker.register(steady, ([label], _kw, ctx) => {
      if (failOnce.delete(label)) throw new Error(`${label} fails once`);
      return `done ${label} ${ctx.retries}`;
    });
    worker.register(broken, ([label]) => {
      throw new Error(`${label} always fails`);
    });
    await worker.start();
    client = await connectClient({ logger: silentLogger, metrics: { registry } });
  });

  after(async () => {
    await client?.close();
    await worker?.stop();
    for (const q of [queue, `${queue}.dlq`, `${queue}.retry.100`]) await raw.channel.deleteQueue(q);
    await raw.channel.deleteExchange(queue);
    await raw.close();
  });

  /** A Celery v2 message published by hand: what a client does not send (an expired task, an unknown name). */
  function publishRaw(task: string, headers: Record<string, unknown> = {}): void {
    const id = randomUUID();
    const body = JSON.stringify([['raw'], {}, { callbacks: null, errbacks: null, chain: null, chord: null }]);
    raw.channel.sendToQueue(queue, Buffer.from(body), {
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      correlationId: id,
      persistent: true,
      headers: { lang: 'py', task, id, retries: 0, eta: null, expires: null, ...headers },
    });
  }

  it('counts every outcome exactly, per task and version, on the worker and the client', async () => {
    expect(worker.metricsPort).to.equal(PORT);
    expect(worker.metricsRegistry).to.equal(registry);
    expect(client.metricsRegistry).to.equal(registry);

    // 5 succeed, 1 fails once then succeeds on its retry, 2 fail for good, 1 expired, 1 unknown task.
    const ok = await Promise.all([1, 2, 3, 4, 5].map((i) => client.send(steady, [`ok${i}`], {})));
    failOnce.add('flaky');
    const flaky = await client.send(steady, ['flaky'], {});
    const bad = await Promise.all([1, 2].map((i) => client.send(broken, [`bad${i}`], {})));
    publishRaw('metrics.steady', { expires: '2020-01-01T00:00:00.000000+00:00' });
    publishRaw('metrics.nobody');

    for (const sent of ok) expect(await sent.result({ timeoutMs: 10_000 })).to.match(/^done ok\d 0$/);
    expect(await flaky.result({ timeoutMs: 10_000 })).to.equal('done flaky 1');
    for (const sent of bad) {
      const err = await sent.result({ timeoutMs: 10_000 }).then(() => null, (e: unknown) => e);
      expect(err).to.be.an('error');
    }
    const s = await waitFor('the expired and unknown deliveries counted', async () => {
      const now = await scrape(PORT);
      const done = now.get('taskbus_worker_tasks_expired_total{task="metrics.steady",version="3"}') === 1 &&
        now.get('taskbus_worker_tasks_dead_lettered_total{task="",version="",reason="unknown-task"}') === 1 &&
        now.get('taskbus_worker_tasks_dead_lettered_total{task="metrics.broken_v2",version="2",reason="failed"}') === 2;
      return done ? now : undefined;
    });

    const steadyLabels = 'task="metrics.steady",version="3"';
    const brokenLabels = 'task="metrics.broken_v2",version="2"';
    const expected: Record<string, number> = {
      // 5 + the flaky one twice + the expired one
      [`taskbus_worker_tasks_received_total{${steadyLabels}}`]: 8,
      [`taskbus_worker_tasks_succeeded_total{${steadyLabels}}`]: 6,
      [`taskbus_worker_tasks_retried_total{${steadyLabels}}`]: 1,
      [`taskbus_worker_tasks_failed_total{${steadyLabels}}`]: 0,
      [`taskbus_worker_tasks_expired_total{${steadyLabels}}`]: 1,
      [`taskbus_worker_tasks_in_flight{${steadyLabels}}`]: 0,
      [`taskbus_worker_task_duration_seconds_count{${steadyLabels}}`]: 7,
      [`taskbus_worker_task_duration_seconds_bucket{${steadyLabels},le="+Inf"}`]: 7,
      [`taskbus_worker_tasks_received_total{${brokenLabels}}`]: 2,
      [`taskbus_worker_tasks_succeeded_total{${brokenLabels}}`]: 0,
      [`taskbus_worker_tasks_failed_total{${brokenLabels}}`]: 2,
      [`taskbus_worker_tasks_retried_total{${brokenLabels}}`]: 0,
      [`taskbus_worker_tasks_dead_lettered_total{${brokenLabels},reason="failed"}`]: 2,
      [`taskbus_worker_tasks_in_flight{${brokenLabels}}`]: 0,
      [`taskbus_worker_task_duration_seconds_count{${brokenLabels}}`]: 2,
      'taskbus_worker_tasks_received_total{task="",version=""}': 1,
      'taskbus_worker_tasks_dead_lettered_total{task="",version="",reason="unknown-task"}': 1,
      // The client sent 5 + 1 + 2; the worker's retry copy is the worker's, not the client's.
      taskbus_client_published_total: 8,
      taskbus_client_confirmed_total: 8,
      taskbus_client_returned_total: 0,
      taskbus_client_buffered: 0,
      taskbus_client_reconnects_total: 0,
    };
    const actual = Object.fromEntries(Object.keys(expected).map((k) => [k, s.get(k)]));
    expect(actual).to.deep.equal(expected);
    // Buckets are cumulative and end at the count; only the failure reasons seen are listed.
    const buckets = [...s].filter(([k]) => k.startsWith(`taskbus_worker_task_duration_seconds_bucket{${steadyLabels},`)).map(([, v]) => v);
    expect(buckets).to.have.length(12);
    expect(buckets).to.deep.equal([...buckets].sort((a, b) => a - b));
    expect([...s.keys()].filter((k) => k.startsWith('taskbus_worker_tasks_dead_lettered_total'))).to.have.length(2);
    expect(s.get(`taskbus_worker_task_duration_seconds_sum{${steadyLabels}}`)).to.be.greaterThan(0);
  });

  it('answers 404 off /metrics, and a taken port fails start() with a typed error', async () => {
    expect((await fetch(`http://127.0.0.1:${PORT}/other`)).status).to.equal(404);
    const second = createWorker({ logger: silentLogger, metrics: { port: PORT } });
    second.register(steady, () => 'unused');
    const err = await second.start().then(() => null, (e: unknown) => e);
    expect(err).to.be.instanceOf(MetricsServerError);
    expect((err as MetricsServerError).code).to.equal('E_METRICS_LISTEN');
  });

  it('client: a publish returned as unroutable and a lost connection are counted', async () => {
    const own = new Registry();
    const forwarder = new Forwarder();
    await forwarder.openAnyOf(FORWARDER_PORTS);
    const url = AMQP_URL.replace(/:\d+(?=\/|$)/, `:${forwarder.port}`);
    const c = await connectClient({ url, logger: silentLogger, reconnect: { initialMs: 50, maxMs: 200 }, metrics: { registry: own } });
    const job = defineTask<[label: string], Record<string, never>, string>({ name: 'metrics.job', queue: uniqueQueue('metrics-client'), args: { label: Type.String() }, result: Type.String() });
    const client = (m: Scrape) => Object.fromEntries([...m].filter(([k]) => k.startsWith('taskbus_client_')));
    try {
      await c.send(job, ['a'], {}, { ignoreResult: true });
      await raw.channel.deleteQueue(job.queue);
      await c.send(job, ['b'], {}, { ignoreResult: true }); // returned, its queue declared again, sent again
      expect(client(await read(own))).to.deep.equal({
        taskbus_client_published_total: 3,
        taskbus_client_confirmed_total: 2,
        taskbus_client_returned_total: 1,
        taskbus_client_reconnects_total: 0,
        taskbus_client_buffered: 0,
      });
      forwarder.cut();
      await waitFor('the reconnect', async () => ((await read(own)).get('taskbus_client_reconnects_total') === 1 ? true : undefined));
      await c.send(job, ['c'], {}, { ignoreResult: true });
      expect(client(await read(own))).to.include({ taskbus_client_published_total: 4, taskbus_client_confirmed_total: 3, taskbus_client_reconnects_total: 1 });
    } finally {
      await c.close();
      await forwarder.shut();
      await raw.channel.deleteQueue(job.queue);
      await raw.channel.deleteExchange(job.queue);
    }
  });
});
