/** The taskbus worker metrics of one `/metrics` scrape, per task and version (Prometheus text format 0.0.4). */

export interface TaskCounts {
  readonly task: string;
  readonly version: string;
  received: number;
  succeeded: number;
  failed: number;
  retried: number;
  deadLettered: number;
  inFlight: number;
  /** Handler run time, summed (seconds), and the number of runs it sums. */
  durationSum: number;
  durationCount: number;
}

type Field = Exclude<keyof TaskCounts, 'task' | 'version'>;

const FIELDS: Readonly<Record<string, Field>> = {
  taskbus_worker_tasks_received_total: 'received',
  taskbus_worker_tasks_succeeded_total: 'succeeded',
  taskbus_worker_tasks_failed_total: 'failed',
  taskbus_worker_tasks_retried_total: 'retried',
  taskbus_worker_tasks_dead_lettered_total: 'deadLettered',
  taskbus_worker_tasks_in_flight: 'inFlight',
  taskbus_worker_task_duration_seconds_sum: 'durationSum',
  taskbus_worker_task_duration_seconds_count: 'durationCount',
};

/** `name{labels} value`; label values are quoted with `\\`, `\"` and `\n` escaped. */
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/gy;

function labels(text: string): Map<string, string> | null {
  const out = new Map<string, string>();
  LABEL.lastIndex = 0;
  let m: RegExpExecArray | null;
  while (LABEL.lastIndex < text.length && (m = LABEL.exec(text)) !== null) {
    out.set(m[1]!, m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c)));
  }
  return LABEL.lastIndex === text.length || text.length === 0 ? out : null;
}

export const taskKey = (task: string, version: string): string => `${task}\u0000${version}`;

/** Per task and version; other metrics, comments and malformed lines are skipped (a scrape is never trusted). */
export function parseTaskMetrics(text: string): Map<string, TaskCounts> {
  const out = new Map<string, TaskCounts>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line.trim());
    const field = m ? FIELDS[m[1]!] : undefined;
    if (!m || !field) continue;
    const l = labels(m[2] ?? '');
    const value = Number(m[3]);
    const task = l?.get('task');
    const version = l?.get('version') ?? '';
    if (task === undefined || !Number.isFinite(value) || value < 0) continue;
    const key = taskKey(task, version);
    let c = out.get(key);
    if (!c) out.set(key, (c = { task, version, received: 0, succeeded: 0, failed: 0, retried: 0, deadLettered: 0, inFlight: 0, durationSum: 0, durationCount: 0 }));
    // dead_lettered has one series per reason: they add up.
    c[field] += value;
  }
  return out;
}

/** Adds the counts of several workers serving the same task version. */
export function addCounts(into: Map<string, TaskCounts>, more: ReadonlyMap<string, TaskCounts>): void {
  for (const [key, c] of more) {
    const have = into.get(key);
    if (!have) {
      into.set(key, { ...c });
      continue;
    }
    for (const f of Object.values(FIELDS)) have[f] += c[f];
  }
}
