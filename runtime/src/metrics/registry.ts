import type { Registry } from 'prom-client';
import { MetricsConfigError } from './errors.js';
import type { ClientStats, TaskStats, WorkerStats } from './stats.js';

// Loaded only when metrics are asked for: prom-client takes ~50 ms to import, and every CLI call loads the runtime.
type PromClient = typeof import('prom-client');

const TASK_LABELS = ['task', 'version'] as const;

const WORKER_METRICS = [
  'taskbus_worker_tasks_received_total',
  'taskbus_worker_tasks_succeeded_total',
  'taskbus_worker_tasks_failed_total',
  'taskbus_worker_tasks_retried_total',
  'taskbus_worker_tasks_expired_total',
  'taskbus_worker_tasks_dead_lettered_total',
  'taskbus_worker_tasks_in_flight',
  'taskbus_worker_task_duration_seconds',
] as const;
const CLIENT_METRICS = [
  'taskbus_client_published_total',
  'taskbus_client_confirmed_total',
  'taskbus_client_returned_total',
  'taskbus_client_reconnects_total',
  'taskbus_client_buffered',
] as const;
type TaskLabel = (typeof TASK_LABELS)[number];

/**
 * Everything reporting into one registry: workers (or clients) sharing a registry add up into one series
 * per label set, as prom-client users expect of one process, instead of failing on a duplicate name.
 */
interface Family<S> {
  readonly sources: Set<S>;
}

interface WorkerFamily extends Family<WorkerStats> {
  /** Histogram bounds every worker of the registry must share. */
  readonly bounds: readonly number[];
}

const workerFamilies = new WeakMap<Registry, WorkerFamily>();
const clientFamilies = new WeakMap<Registry, Family<ClientStats>>();

/** The metrics a worker reports, registered in `registry` on first use; returns a function that detaches `stats`. */
export async function registerWorkerStats(registry: Registry, stats: WorkerStats): Promise<() => void> {
  let family = workerFamilies.get(registry);
  if (!family) {
    const prom = await loadPromClient();
    family = workerFamilies.get(registry); // another worker may have registered while prom-client loaded
    if (!family) {
      family = { sources: new Set(), bounds: stats.bounds };
      assertFree(registry, WORKER_METRICS);
      defineWorkerMetrics(prom, registry, family);
      workerFamilies.set(registry, family);
    }
  }
  if (family.bounds.join() !== stats.bounds.join()) {
    throw new MetricsConfigError(`workers sharing a metrics registry must use the same duration buckets (${family.bounds.join(', ')})`);
  }
  family.sources.add(stats);
  const f = family;
  return () => f.sources.delete(stats);
}

export async function registerClientStats(registry: Registry, stats: ClientStats): Promise<void> {
  let family = clientFamilies.get(registry);
  if (!family) {
    const prom = await loadPromClient();
    family = clientFamilies.get(registry);
    if (!family) {
      family = { sources: new Set() };
      assertFree(registry, CLIENT_METRICS);
      defineClientMetrics(prom, registry, family);
      clientFamilies.set(registry, family);
    }
  }
  // Kept after the client closes: its counters must not go down (its buffered gauge reads 0 by then).
  family.sources.add(stats);
}

/**
 * prom-client refuses a name already taken in a registry; for a family's names that happens only when another
 * copy of the runtime (a bindings package bundling its own) or the application registered them. Checked
 * before registering anything, so a refusal leaves the registry as it was.
 */
function assertFree(registry: Registry, names: readonly string[]): void {
  const taken = names.filter((n) => registry.getSingleMetric(n) !== undefined);
  if (taken.length > 0) {
    throw new MetricsConfigError(`the metrics registry already holds ${taken.join(', ')} (another copy of @taskbus/runtime, or the application?); give each its own registry`);
  }
}

/** A fresh registry, for callers that gave none (never prom-client's global one). */
export async function newRegistry(): Promise<Registry> {
  return new (await loadPromClient()).Registry();
}

export function loadPromClient(): Promise<PromClient> {
  return import('prom-client');
}

/** Task stats of every worker in the family, grouped per (task, version) to be summed. */
function byTask(family: Family<WorkerStats>, withUnmatched = false): Map<string, TaskStats[]> {
  const groups = new Map<string, TaskStats[]>();
  for (const worker of family.sources) {
    for (const s of worker.all(withUnmatched)) {
      const key = `${s.task}\n${s.version}`;
      const group = groups.get(key);
      if (group) group.push(s);
      else groups.set(key, [s]);
    }
  }
  return groups;
}

const sum = (group: readonly TaskStats[], read: (s: TaskStats) => number) => group.reduce((n, s) => n + read(s), 0);
const labelsOf = (s: TaskStats): Record<TaskLabel, string> => ({ task: s.task, version: s.version });

function defineWorkerMetrics(prom: PromClient, registry: Registry, family: WorkerFamily): void {
  const counter = (name: string, help: string, read: (s: TaskStats) => number, withUnmatched = false) =>
    new prom.Counter<TaskLabel>({
      name,
      help,
      labelNames: TASK_LABELS,
      registers: [registry],
      collect() {
        this.reset();
        for (const group of byTask(family, withUnmatched).values()) this.inc(labelsOf(group[0]!), sum(group, read));
      },
    });
  // Deliveries that name no task served here are counted under task="" (received and dead-lettered only).
  counter('taskbus_worker_tasks_received_total', 'Deliveries taken from the task queues, retries and redeliveries included', (s) => s.received, true);
  counter('taskbus_worker_tasks_succeeded_total', 'Handler runs that succeeded', (s) => s.succeeded);
  counter('taskbus_worker_tasks_failed_total', 'Handler runs that failed for good (no attempt left, or a result the contract refuses)', (s) => s.failed);
  counter('taskbus_worker_tasks_retried_total', 'Handler runs that failed and were scheduled for another attempt', (s) => s.retried);
  counter('taskbus_worker_tasks_expired_total', 'Tasks discarded unrun, past their expires time', (s) => s.expired);
  new prom.Counter<TaskLabel | 'reason'>({
    name: 'taskbus_worker_tasks_dead_lettered_total',
    help: 'Deliveries sent to the dead-letter queue, by reason',
    labelNames: [...TASK_LABELS, 'reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const group of byTask(family, true).values()) {
        const reasons = new Map<string, number>();
        for (const s of group) for (const [reason, n] of s.deadLettered) reasons.set(reason, (reasons.get(reason) ?? 0) + n);
        for (const [reason, n] of reasons) this.inc({ ...labelsOf(group[0]!), reason }, n);
      }
    },
  });
  new prom.Gauge<TaskLabel>({
    name: 'taskbus_worker_tasks_in_flight',
    help: 'Handlers running now',
    labelNames: TASK_LABELS,
    registers: [registry],
    collect() {
      this.reset();
      for (const group of byTask(family).values()) this.set(labelsOf(group[0]!), sum(group, (s) => s.inFlight));
    },
  });
  defineDurationHistogram(prom, registry, family);
}

/**
 * The handler duration histogram, its values built from the workers' plain bucket counts at scrape time.
 * A Histogram subclass, so it is what registries and `getSingleMetric` expect; only its read side differs.
 */
function defineDurationHistogram(prom: PromClient, registry: Registry, family: WorkerFamily): void {
  const name = 'taskbus_worker_task_duration_seconds';
  const help = 'Handler run time in seconds, successes and failures alike';
  type Result = Awaited<ReturnType<InstanceType<PromClient['Histogram']>['get']>>;
  class StatsHistogram extends prom.Histogram<TaskLabel> {
    override async get(): Promise<Result> {
      const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
      for (const group of byTask(family).values()) {
        const labels = labelsOf(group[0]!);
        const bounds = group[0]!.duration.bounds;
        let acc = 0;
        for (let i = 0; i < bounds.length; i++) {
          acc += sum(group, (s) => s.duration.counts[i]!);
          values.push({ labels: { ...labels, le: bounds[i]! }, value: acc, metricName: `${name}_bucket` });
        }
        const count = sum(group, (s) => s.duration.count);
        values.push(
          { labels: { ...labels, le: '+Inf' }, value: count, metricName: `${name}_bucket` },
          { labels, value: sum(group, (s) => s.duration.sum), metricName: `${name}_sum` },
          { labels, value: count, metricName: `${name}_count` },
        );
      }
      return { name, help, type: 'histogram', values, aggregator: 'sum' } as unknown as Result;
    }

    /** The registry prefers this to get() when formatting text; same values. */
    getForPromString(): Promise<Result> {
      return this.get();
    }
  }
  new StatsHistogram({
    name,
    help,
    labelNames: TASK_LABELS,
    buckets: [...family.bounds],
    registers: [registry],
  });
}

function defineClientMetrics(prom: PromClient, registry: Registry, family: Family<ClientStats>): void {
  const total = (read: (s: ClientStats) => number) => {
    let n = 0;
    for (const s of family.sources) n += read(s);
    return n;
  };
  const counter = (name: string, help: string, read: (s: ClientStats) => number) =>
    new prom.Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(total(read));
      },
    });
  counter('taskbus_client_published_total', 'Publishes written to the broker (a re-send counts again)', (s) => s.published);
  counter('taskbus_client_confirmed_total', 'Publishes the broker confirmed', (s) => s.confirmed);
  counter('taskbus_client_returned_total', 'Publishes the broker returned as unroutable', (s) => s.returned);
  counter('taskbus_client_reconnects_total', 'Broker connections re-established after a loss', (s) => s.reconnects);
  new prom.Gauge({
    name: 'taskbus_client_buffered',
    help: 'Publishes not yet confirmed by the broker (waiting to be written, or written)',
    registers: [registry],
    collect() {
      this.set(total((s) => s.buffered()));
    },
  });
}
