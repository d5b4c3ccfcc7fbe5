/** The taskbus worker metrics of one `/metrics` scrape, per task and version (Prometheus text format 0.0.4). */
import { lookup, type LookupAddress, type LookupOneOptions } from 'node:dns';
import { get as httpGet, type RequestOptions } from 'node:http';
import { get as httpsGet } from 'node:https';

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
    const field = m && Object.hasOwn(FIELDS, m[1]!) ? FIELDS[m[1]!] : undefined; // not `constructor` and the like
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

export interface ScrapeLimits {
  readonly maxBytes: number;
  /** For the whole answer, body included: a slow endpoint is cut off. */
  readonly timeoutMs: number;
  /** Addresses a host name must not resolve to (an address written in the URL is checked before). */
  readonly refuse?: (address: string) => boolean;
}

/**
 * The text of a `/metrics` URL, within the limits: a URL a worker advertised is whatever anyone on the broker
 * wrote, so its answer is read at most `maxBytes` and `timeoutMs`, no redirect followed.
 */
export function scrapeText(url: string, limits: ScrapeLimits): Promise<string> {
  const { refuse } = limits;
  const guarded: RequestOptions['lookup'] = (host, options, callback) =>
    lookup(host, options as LookupOneOptions, ((err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => {
      const bad = err ? undefined : (Array.isArray(address) ? address.map((a) => a.address) : [address]).find((a) => refuse?.(a));
      if (bad) return (callback as (e: Error | null) => void)(new Error(`${host} resolves to ${bad}: not scraped`));
      (callback as (e: Error | null, a: string | LookupAddress[], f?: number) => void)(err, address, family);
    }) as never);
  return new Promise((resolve, reject) => {
    const get = url.startsWith('https:') ? httpsGet : httpGet;
    const req = get(url, { signal: AbortSignal.timeout(limits.timeoutMs), ...(refuse ? { lookup: guarded } : {}) }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return reject(new Error(`${url} answered ${res.statusCode}`));
      }
      const length = Number(res.headers['content-length'] ?? 0);
      if (length > limits.maxBytes) {
        req.destroy();
        return reject(new Error(`${url} is too large (${length} bytes)`));
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > limits.maxBytes) {
          req.destroy();
          return reject(new Error(`${url} is too large (over ${limits.maxBytes} bytes)`));
        }
        chunks.push(c);
      });
      res.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      res.on('error', (e) => reject(e.name === 'AbortError' ? new Error(`${url} took over ${limits.timeoutMs} ms`) : e));
    });
    req.on('error', (e) => reject(e.name === 'AbortError' ? new Error(`${url} took over ${limits.timeoutMs} ms`) : e));
  });
}
