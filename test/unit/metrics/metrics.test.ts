import { expect } from 'chai';
import { Counter, Registry } from 'prom-client';
import { MetricsConfigError } from '../../../runtime/src/metrics/errors.js';
import { registerClientStats, registerWorkerStats } from '../../../runtime/src/metrics/registry.js';
import { ClientStats, DurationStats, versionLabel, WorkerStats } from '../../../runtime/src/metrics/stats.js';
import { workerStatsFor } from '../../../runtime/src/metrics/worker-metrics.js';

describe('metrics', () => {
  describe('versionLabel', () => {
    const cases: [string, { name: string; version?: number }, string][] = [
      ['the contract version when the spec has one', { name: 'pusher.send_to_s3', version: 4 }, '4'],
      ['the _vN suffix otherwise', { name: 'pusher.send_to_s3_v2' }, '2'],
      ['1 for a name without one', { name: 'pusher.send_to_s3' }, '1'],
    ];
    for (const [name, spec, want] of cases) it(name, () => expect(versionLabel(spec)).to.equal(want));
  });

  it('a duration lands in the first bucket whose bound it does not exceed (le), past the last in +Inf', () => {
    const d = new DurationStats([0.1, 1]);
    for (const s of [0.05, 0.1, 0.5, 1, 3]) d.observe(s);
    expect([...d.counts]).to.deep.equal([2, 2, 1]);
    expect(d.count).to.equal(5);
    expect(d.sum).to.be.closeTo(4.65, 1e-9);
  });

  it('deliveries naming no registered task share one bounded series', () => {
    const w = new WorkerStats();
    const a = w.add({ name: 'a', version: 1 });
    expect(w.of('a')).to.equal(a);
    for (const hostile of ['b', undefined, 42, { task: 'a' }]) expect(w.of(hostile)).to.equal(w.unmatched);
  });

  it('refuses duration buckets that are empty or not ascending', () => {
    expect(() => workerStatsFor({ durationBuckets: [1, 0.5] })).to.throw(/ascending/);
    expect(() => workerStatsFor({ durationBuckets: [] })).to.throw(/ascending/);
    expect(() => workerStatsFor({ durationBuckets: [0.1, Infinity] })).to.throw(/ascending/);
  });

  it('workers and clients sharing a registry add up, and nothing goes to the global registry', async () => {
    const registry = new Registry();
    const w1 = new WorkerStats([1]);
    const w2 = new WorkerStats([1]);
    for (const [w, n] of [[w1, 2], [w2, 3]] as const) {
      const s = w.add({ name: 'job', version: 1 });
      s.received += n;
      s.inFlight++;
      s.ran(0, 500 * n);
      s.deadLetter('failed');
    }
    await registerWorkerStats(registry, w1);
    await registerWorkerStats(registry, w2);
    const c1 = new ClientStats(() => 4);
    c1.published = 7;
    await registerClientStats(registry, c1);
    await registerClientStats(registry, new ClientStats(() => 1));
    const text = await registry.metrics();
    const lines = text.split('\n');
    expect(lines).to.include('taskbus_worker_tasks_received_total{task="job",version="1"} 5');
    expect(lines).to.include('taskbus_worker_tasks_in_flight{task="job",version="1"} 0');
    expect(lines).to.include('taskbus_worker_tasks_dead_lettered_total{task="job",version="1",reason="failed"} 2');
    expect(lines).to.include('taskbus_worker_task_duration_seconds_bucket{task="job",version="1",le="1"} 1');
    expect(lines).to.include('taskbus_worker_task_duration_seconds_bucket{task="job",version="1",le="+Inf"} 2');
    expect(lines).to.include('taskbus_worker_task_duration_seconds_sum{task="job",version="1"} 2.5');
    expect(lines).to.include('taskbus_worker_tasks_received_total{task="",version=""} 0');
    expect(text).not.to.include('taskbus_worker_tasks_succeeded_total{task=""');
    expect(lines).to.include('taskbus_client_published_total 7');
    expect(lines).to.include('taskbus_client_buffered 5');
    expect(lines).to.include('# TYPE taskbus_worker_task_duration_seconds histogram');
    const { register } = await import('prom-client');
    expect(await register.getMetricsAsJSON()).to.deep.equal([]);
  });

  it('workers sharing a registry must share buckets', async () => {
    const registry = new Registry();
    await registerWorkerStats(registry, new WorkerStats([1]));
    const err = await registerWorkerStats(registry, new WorkerStats([2])).then(() => null, (e: unknown) => e);
    expect((err as { code?: string }).code).to.equal('E_METRICS_CONFIG');
  });

  it('every metric is registered under its documented name', async () => {
    const registry = new Registry();
    await registerWorkerStats(registry, new WorkerStats());
    await registerClientStats(registry, new ClientStats(() => 0));
    expect(registry.getMetricsAsArray().map((m) => m.name).sort()).to.deep.equal([
      'taskbus_client_buffered',
      'taskbus_client_confirmed_total',
      'taskbus_client_published_total',
      'taskbus_client_reconnects_total',
      'taskbus_client_returned_total',
      'taskbus_worker_task_duration_seconds',
      'taskbus_worker_tasks_dead_lettered_total',
      'taskbus_worker_tasks_expired_total',
      'taskbus_worker_tasks_failed_total',
      'taskbus_worker_tasks_in_flight',
      'taskbus_worker_tasks_received_total',
      'taskbus_worker_tasks_retried_total',
      'taskbus_worker_tasks_succeeded_total',
    ]);
  });

  it('a registry already holding one of the names (another runtime copy) is refused, and left as it was', async () => {
    const registry = new Registry();
    new Counter({ name: 'taskbus_worker_tasks_failed_total', help: 'theirs', registers: [registry] });
    const err = await registerWorkerStats(registry, new WorkerStats()).then(() => null, (e: unknown) => e);
    expect(err).to.be.instanceOf(MetricsConfigError);
    expect((err as Error).message).to.include('taskbus_worker_tasks_failed_total');
    expect(registry.getMetricsAsArray().map((m) => m.name)).to.deep.equal(['taskbus_worker_tasks_failed_total']);
  });
});
