import { existsSync } from 'node:fs';
import { taskCatalog } from '@taskbus/codegen';
import { openControl, safeUrl, type ControlClient, type NodeReply } from '@taskbus/runtime';
import { loadContracts } from '../files.js';
import { queueReport, type QueueRow, type RatedQueueRow } from '../inspect-queues.js';
import { History } from './history.js';
import { addCounts, parseTaskMetrics, scrapeText, taskKey, type TaskCounts } from './prometheus.js';
import { describeWorkers, isLinkLocal, type WorkerView } from './workers.js';

export interface QueueView extends RatedQueueRow {
  /** Ready messages gained (or, negative, lost) per minute over the last minute; null until sampled twice. */
  readonly trend: number | null;
  /**
   * Tasks of this queue finished (succeeded or failed) per second over the last minute, as the workers count them;
   * null when no task is known to be of this queue (the contracts say, or its workers consume this queue only).
   */
  readonly done: number | null;
}

/**
 * The queue a task's runs come from: the one queue its workers consume (a worker may be started on another queue
 * than the contract's), else the contract's queue, else unknown (null).
 */
export function queueOfTask(t: Pick<TaskView, 'workers'>, queuesOf: ReadonlyMap<string, readonly string[]>, contractQueue: string | undefined): string | null {
  const consumed = new Set(t.workers.flatMap((node) => queuesOf.get(node) ?? []));
  if (consumed.size === 1) return [...consumed][0]!;
  return consumed.size === 0 || (contractQueue !== undefined && consumed.has(contractQueue)) ? (contractQueue ?? null) : null;
}

/** Per queue, the finished-per-second of its tasks (those `queueOf` places; the others count nowhere). */
export function doneByQueue(tasks: readonly TaskView[], queueOf: (t: TaskView) => string | null): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of tasks) {
    const queue = queueOf(t);
    if (queue === null || t.rates === null) continue;
    out.set(queue, (out.get(queue) ?? 0) + t.rates.succeeded + t.rates.failed);
  }
  return out;
}

export interface TaskView {
  readonly task: string;
  /** Contract version ('' when unknown). */
  readonly version: string;
  readonly workers: readonly string[];
  /** From TypeScript workers' metrics; null when no worker serving it reports metrics. */
  readonly metrics: Omit<TaskCounts, 'task' | 'version'> | null;
  /** Runs counted by Celery workers' `stats.total` (Celery does not tell failures apart there); null when none. */
  readonly celeryTotal: number | null;
  /** Over the last minute: done (succeeded, or run by a Celery worker) and failed per second, mean run time. */
  readonly rates: { readonly succeeded: number; readonly failed: number; readonly meanSeconds: number | null } | null;
}

export interface Snapshot {
  readonly at: number;
  readonly sample: number;
  readonly source: 'management' | 'amqp' | null;
  readonly errors: readonly string[];
  readonly queues: readonly QueueView[];
  readonly workers: readonly WorkerView[];
  readonly tasks: readonly TaskView[];
  /** For the charts: seconds since the epoch, and one series per queue (ready) and per task (runs per second). */
  readonly chart: { readonly t: readonly number[]; readonly queues: Readonly<Record<string, readonly (number | null)[]>>; readonly tasks: Readonly<Record<string, readonly number[]>> };
}

export interface CollectorOptions {
  /** Queues to show besides those the workers consume. */
  readonly queues: readonly string[];
  /** `/metrics` URLs to scrape besides those the workers tell. */
  readonly metrics: readonly string[];
  readonly contracts: string;
  readonly contractsGiven: boolean;
  readonly management: string | false | undefined;
  /** How long to wait for the workers' replies. */
  readonly replyTimeoutMs: number;
  /**
   * How long one sample may take before it is given up (a broker that hangs); default 10 s past replyTimeoutMs
   * (a scrape may take 2 s, the management API 3 s, then the AMQP counts).
   */
  readonly sampleTimeoutMs?: number;
}

const MAX_SCRAPE_BYTES = 4 * 1024 * 1024;
const SCRAPE_TIMEOUT_MS = 2000;
const MAX_CHART_SERIES = 8;
/** Rows kept per sample (and so in the ten minutes of history): a vhost or the workers may name any number. */
export const MAX_ROWS = 1000;
/** Metrics endpoints scraped per sample, each read to MAX_SCRAPE_BYTES at most. */
const MAX_SCRAPES = 32;

/** The first `max` of `rows`, telling `errors` how many more there were. */
function bounded<T>(rows: readonly T[], max: number, what: string, errors: string[]): readonly T[] {
  if (rows.length <= max) return rows;
  errors.push(`${rows.length - max} more ${what} not shown (the first ${max} are)`);
  return rows.slice(0, max);
}
/** Errors may quote the broker: never with its password (safeUrl redacts every URL of a text that has one). */
export function errorText(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return /[a-z][a-z0-9+.-]*:\/\//i.test(text) ? safeUrl(text) : text;
}

/** A worker-advertised URL may name no link-local address; the operator's --metrics may name anything. */
async function scrape(url: string, advertised: boolean): Promise<Map<string, TaskCounts>> {
  return parseTaskMetrics(await scrapeText(url, { maxBytes: MAX_SCRAPE_BYTES, timeoutMs: SCRAPE_TIMEOUT_MS, ...(advertised ? { refuse: isLinkLocal } : {}) }));
}

const byNode = (replies: readonly NodeReply[]) => new Map(replies.map((r) => [r.node, r.reply]));

/** Samples the broker, the workers and their metrics; keeps the last minutes; tells listeners each new snapshot. */
export class Collector {
  private control: ControlClient | null = null;
  private readonly history = new History();
  private catalog: ReadonlyMap<string, number> = new Map();
  /** The contracts' queues: Celery task name -> queue. */
  private taskQueues: ReadonlyMap<string, string> = new Map();
  private samples = 0;
  private latest: Snapshot | null = null;
  private readonly listeners = new Set<(s: Snapshot) => void>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<Snapshot> | null = null;
  private closed = false;
  /** A sample that failed outright: told in the next one. */
  private failure: string | null = null;
  /** Bumped by each sample, and when one is given up: a sample publishes only while it is the current one. */
  private generation = 0;

  constructor(private readonly o: CollectorOptions) {}

  /** The contracts' versions (when there are contracts): Celery task name -> version. */
  async loadCatalog(): Promise<void> {
    if (!existsSync(this.o.contracts) && !this.o.contractsGiven) return;
    const tasks = [...taskCatalog(await loadContracts(this.o.contracts)).values()];
    this.catalog = new Map(tasks.map((t) => [t.name, t.version]));
    this.taskQueues = new Map(tasks.map((t) => [t.name, t.queue]));
  }

  snapshot(): Snapshot | null {
    return this.latest;
  }

  onSnapshot(listener: (s: Snapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Samples every `intervalMs` from now on (the first at once). */
  start(intervalMs: number): void {
    const tick = async () => {
      await this.refresh().catch((e: unknown) => this.failed(`sampling failed: ${errorText(e)}`));
      if (!this.closed) this.timer = setTimeout(tick, intervalMs);
    };
    void tick();
  }

  /** One sample now (or the one under way); a sample that hangs past the deadline is given up and ignored. */
  refresh(): Promise<Snapshot> {
    if (this.running) return this.running;
    const generation = ++this.generation;
    const ms = this.o.sampleTimeoutMs ?? this.o.replyTimeoutMs + 10_000;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.generation++; // whatever the hung sample finds later is not shown
        const control = this.control;
        this.control = null;
        void control?.close().catch(() => undefined);
        reject(new Error(`the broker did not answer within ${ms / 1000} s`));
      }, ms);
    });
    this.running = Promise.race([this.sample(generation), deadline]).finally(() => {
      clearTimeout(timer);
      this.running = null;
    });
    return this.running;
  }

  /**
   * A sample that failed outright: the last snapshot is shown again, told stale, with the failure, and the
   * failure is told in the next sample too.
   */
  private failed(message: string): void {
    this.failure = message;
    const at = Date.now();
    const last = this.latest;
    const stale = last ? `; showing what was seen at ${new Date(last.at).toISOString()}` : '';
    const snapshot: Snapshot = last
      ? { ...last, at, sample: ++this.samples, errors: [message + stale] }
      : { at, sample: ++this.samples, source: null, errors: [message], queues: [], workers: [], tasks: [], chart: { t: [], queues: {}, tasks: {} } };
    this.latest = snapshot;
    for (const l of this.listeners) l(snapshot);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
    await this.control?.close();
    this.control = null;
  }

  private async ask(errors: string[]) {
    const empty = { stats: new Map(), registered: new Map(), activeQueues: new Map(), active: new Map() };
    let control = this.control;
    try {
      control ??= this.control = await openControl();
      const o = { timeoutMs: this.o.replyTimeoutMs };
      const [stats, registered, activeQueues, active] = await Promise.all((['stats', 'registered', 'active_queues', 'active'] as const).map((c) => control!.inspect(c, o)));
      return { stats: byNode(stats!), registered: byNode(registered!), activeQueues: byNode(activeQueues!), active: byNode(active!) };
    } catch (e) {
      errors.push(`remote control: ${errorText(e)}`);
      if (this.control === control) this.control = null; // not one a later sample opened
      await control?.close().catch(() => undefined);
      return empty;
    }
  }

  private async sample(generation: number): Promise<Snapshot> {
    const errors: string[] = this.failure ? [this.failure] : [];
    this.failure = null;
    const at = Date.now();
    const replies = await this.ask(errors);
    const scraped = new Map<string, Map<string, TaskCounts>>(); // by node (or URL)
    const fromWorkers = describeWorkers(replies, () => null, at);
    const urls = new Map<string, { url: string; advertised: boolean }>([
      ...this.o.metrics.map((url) => [url, { url, advertised: false }] as const),
      ...fromWorkers.flatMap((w) => (w.metrics ? [[w.node, { url: w.metrics, advertised: true }] as const] : [])),
    ]);
    await Promise.all(
      bounded([...urls], MAX_SCRAPES, 'metrics endpoints scraped', errors).map(async ([who, { url, advertised }]) => {
        try {
          scraped.set(who, await scrape(url, advertised));
        } catch (e) {
          errors.push(errorText(`metrics of ${who}: ${errorText(e)}`)); // an operator's --metrics URL may hold a login
        }
      }),
    );
    const counts = new Map<string, TaskCounts>();
    for (const c of scraped.values()) addCounts(counts, c);
    const metricVersion = new Map([...counts.values()].map((c) => [c.task, Number(c.version)]));
    const versionOf = (task: string) => {
      const v = metricVersion.get(task) ?? this.catalog.get(task);
      return v === undefined || !Number.isFinite(v) ? null : v;
    };
    const workers = describeWorkers(replies, versionOf, at);

    const known = [...new Set([...workers.flatMap((w) => w.queues), ...this.o.queues])];
    let queues: readonly RatedQueueRow[] = [];
    let source: Snapshot['source'] = null;
    try {
      // The contracts' queues from the catalog loaded at start: not loaded and type-checked again per sample.
      const report = await queueReport([...new Set(this.taskQueues.values()), ...known], this.o.management, true);
      if (report) {
        queues = bounded(report.queues, MAX_ROWS, 'queues', errors);
        source = report.source;
      }
    } catch (e) {
      if (known.length > 0) errors.push(`queues: ${errorText(e)}`);
    }

    const tasks = bounded(this.taskRows(workers, counts, scraped), MAX_ROWS, 'task versions', errors);
    this.history.add({
      at,
      queues: new Map(queues.map((q) => [q.queue, q.ready])),
      tasks: new Map(tasks.map((t) => [taskKey(t.task, t.version), { succeeded: (t.metrics?.succeeded ?? 0) + (t.celeryTotal ?? 0), failed: t.metrics?.failed ?? 0, durationSum: t.metrics?.durationSum ?? 0, durationCount: t.metrics?.durationCount ?? 0 }])),
    });
    const rated = tasks.map((t) => ({ ...t, rates: this.history.taskRates(taskKey(t.task, t.version)) }));
    const queuesOf = new Map(workers.map((w) => [w.node, w.queues]));
    const done = doneByQueue(rated, (t) => queueOfTask(t, queuesOf, this.taskQueues.get(t.task)));
    const snapshot: Snapshot = {
      at,
      sample: ++this.samples,
      source,
      errors,
      queues: queues.map((q) => ({ ...q, trend: this.history.queueTrend(q.queue), done: done.get(q.queue) ?? null })),
      workers,
      tasks: rated,
      chart: this.chart(queues, tasks),
    };
    if (generation !== this.generation) return snapshot; // given up meanwhile
    this.latest = snapshot;
    for (const l of this.listeners) l(snapshot);
    return snapshot;
  }

  private taskRows(workers: readonly WorkerView[], counts: ReadonlyMap<string, TaskCounts>, scraped: ReadonlyMap<string, unknown>): Omit<TaskView, 'rates'>[] {
    const rows = new Map<string, { task: string; version: string; workers: Set<string>; metrics: TaskCounts | null; celeryTotal: number | null }>();
    const row = (task: string, version: string) => {
      const key = taskKey(task, version);
      let r = rows.get(key);
      if (!r) rows.set(key, (r = { task, version, workers: new Set(), metrics: null, celeryTotal: null }));
      return r;
    };
    // '' is the metrics' label for deliveries naming no task the worker serves.
    for (const c of counts.values()) if (c.task !== '') row(c.task, c.version).metrics = c;
    for (const w of workers) {
      for (const t of w.tasks) row(t.name, t.version === null ? '' : String(t.version)).workers.add(w.node);
      if (scraped.has(w.node)) continue; // its metrics count its tasks already
      for (const [name, n] of Object.entries(w.total)) {
        const v = w.tasks.find((t) => t.name === name)?.version ?? this.catalog.get(name);
        const r = row(name, v == null ? '' : String(v));
        r.celeryTotal = (r.celeryTotal ?? 0) + n;
        r.workers.add(w.node);
      }
    }
    return [...rows.values()]
      .sort((a, b) => (a.task === b.task ? a.version.localeCompare(b.version) : a.task < b.task ? -1 : 1))
      .map((r) => {
        const { task: _t, version: _v, ...metrics } = r.metrics ?? ({} as TaskCounts);
        return { task: r.task, version: r.version, workers: [...r.workers].sort(), metrics: r.metrics ? metrics : null, celeryTotal: r.celeryTotal };
      });
  }

  private chart(queues: readonly QueueRow[], tasks: readonly Omit<TaskView, 'rates'>[]): Snapshot['chart'] {
    const samples = this.history.all();
    const shownQueues = queues.filter((q) => q.state === 'ok').slice(0, MAX_CHART_SERIES);
    const shownTasks = tasks.slice(0, MAX_CHART_SERIES);
    return {
      t: samples.map((s) => s.at / 1000),
      queues: Object.fromEntries(shownQueues.map((q) => [q.queue, samples.map((s) => s.queues.get(q.queue) ?? null)])),
      tasks: Object.fromEntries(shownTasks.map((t) => [`${t.task}${t.version ? ` v${t.version}` : ''}`, this.history.taskSeries(taskKey(t.task, t.version))])),
    };
  }
}
