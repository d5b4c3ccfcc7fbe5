/** Workers as the remote control describes them: pure shaping of the replies of stats, registered, active_queues, active. */

export type Language = 'TypeScript' | 'Python' | 'unknown';

export interface TaskName {
  readonly name: string;
  /** Contract version, when known (metrics labels of a TypeScript worker, or the contracts); else null. */
  readonly version: number | null;
}

export interface ActiveTask {
  readonly id: string;
  readonly name: string;
  /** Seconds it has been running, when the worker says when it started. */
  readonly seconds: number | null;
}

export interface WorkerView {
  readonly node: string;
  readonly language: Language;
  /** e.g. `taskbus 0.1.0` or `celery (solo pool)`. */
  readonly software: string;
  readonly pid: number | null;
  readonly uptime: number | null;
  readonly queues: readonly string[];
  readonly tasks: readonly TaskName[];
  readonly active: readonly ActiveTask[];
  /** Tasks run since start, per Celery task name (`stats.total`). */
  readonly total: Readonly<Record<string, number>>;
  /** Its `/metrics` URL (TypeScript workers that serve metrics). */
  readonly metrics: string | null;
}

/** The replies, each by node name. */
export interface ControlReplies {
  readonly stats: ReadonlyMap<string, unknown>;
  readonly registered: ReadonlyMap<string, unknown>;
  readonly activeQueues: ReadonlyMap<string, unknown>;
  readonly active: ReadonlyMap<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const count = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null);

/**
 * TypeScript workers say `sw_ident: taskbus` in stats. Celery's stats (celery/worker/worker.py stats()) have no
 * sw_ident: they are known by their shape, a string `clock` and a `pool` with `max-concurrency`.
 */
export function workerLanguage(stats: unknown): Language {
  if (!isObject(stats)) return 'unknown';
  if (stats['sw_ident'] === 'taskbus') return 'TypeScript';
  if (typeof stats['sw_ident'] === 'string') return /celery/i.test(stats['sw_ident']) ? 'Python' : 'unknown';
  const pool = stats['pool'];
  return typeof stats['clock'] === 'string' && isObject(pool) && 'max-concurrency' in pool ? 'Python' : 'unknown';
}

function software(stats: unknown, language: Language): string {
  if (!isObject(stats)) return '';
  if (language === 'TypeScript') return `taskbus ${typeof stats['sw_ver'] === 'string' ? stats['sw_ver'] : ''}`.trim();
  const pool = stats['pool'];
  const concurrency = isObject(pool) ? count(pool['max-concurrency']) : null;
  return language === 'Python' ? `celery${concurrency === null ? '' : ` (concurrency ${concurrency})`}` : '';
}

const HOST = /^[a-zA-Z0-9.-]{1,253}$|^[0-9a-fA-F:]{2,39}$/;
/** At most this many active tasks of one worker are shown (a reply may list any number). */
export const MAX_ACTIVE_SHOWN = 100;
/** At most this many task names (registered, or counted in stats.total) and queues of one worker are kept. */
export const MAX_NAMES = 1000;
/** At most this many workers are shown: whoever can publish on the broker can answer as many nodes as they like. */
export const MAX_WORKERS = 500;

/** Link-local addresses (169.254.169.254 and the like: cloud metadata endpoints) are no worker's metrics. */
export function isLinkLocal(address: string): boolean {
  const a = address.toLowerCase().replace(/^\[|\]$/g, '').replace(/^::ffff:/, '');
  return /^169\.254\./.test(a) || /^fe[89ab][0-9a-f]?:/.test(a) || /^fd00:ec2::/.test(a);
}

/**
 * The worker's `/metrics` URL from its stats (`taskbus_metrics`), or null. A wildcard bind address is read as the
 * node's host name (`name@host`). Anything but a plain host name or address and a port is refused: the reply
 * comes from whoever can publish on the broker.
 */
export function metricsUrl(node: string, stats: unknown): string | null {
  const m = isObject(stats) ? stats['taskbus_metrics'] : undefined;
  if (!isObject(m)) return null;
  const port = m['port'];
  let host = m['host'];
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65_535 || typeof host !== 'string') return null;
  if (host === '0.0.0.0' || host === '::' || host === '') host = node.includes('@') ? node.slice(node.lastIndexOf('@') + 1) : '127.0.0.1';
  if (typeof host !== 'string' || !HOST.test(host) || isLinkLocal(host)) return null;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}/metrics`;
}

function names(reply: unknown): string[] {
  if (!Array.isArray(reply)) return [];
  // Asked with no taskinfoitems (as openControl asks), Celery answers bare names: a space may be part of one.
  return reply.filter((n): n is string => typeof n === 'string').slice(0, MAX_NAMES);
}

function queueNames(reply: unknown): string[] {
  if (!Array.isArray(reply)) return [];
  return reply
    .map((q) => (isObject(q) ? q['name'] : undefined))
    .filter((n): n is string => typeof n === 'string')
    .slice(0, MAX_NAMES);
}

/** A string (or number) of a reply; anything else is '' (String() of a hostile object may throw). */
const text = (...vs: unknown[]): string => {
  const v = vs.find((x) => typeof x === 'string' || typeof x === 'number');
  return v === undefined ? '' : String(v);
};

function activeTasks(reply: unknown, nowSeconds: number): ActiveTask[] {
  if (!Array.isArray(reply)) return [];
  return reply.filter(isObject).slice(0, MAX_ACTIVE_SHOWN).map((t) => ({
    id: text(t['id']),
    name: text(t['name'], t['type']),
    seconds: typeof t['time_start'] === 'number' ? Math.max(0, Math.round(nowSeconds - t['time_start'])) : null,
  }));
}

function totals(stats: unknown): Record<string, number> {
  const total = isObject(stats) ? stats['total'] : undefined;
  if (!isObject(total)) return {};
  return Object.fromEntries(Object.entries(total).flatMap(([k, v]) => (count(v) === null ? [] : [[k, v as number]])).slice(0, MAX_NAMES));
}

/**
 * One view per node that answered anything. `versionOf` maps a Celery task name to its contract version
 * (the metrics' labels, then the contracts), null when unknown.
 */
export function describeWorkers(r: ControlReplies, versionOf: (task: string) => number | null, nowMs: number): WorkerView[] {
  const nodes = new Set([...r.stats.keys(), ...r.registered.keys(), ...r.activeQueues.keys(), ...r.active.keys()]);
  return [...nodes].sort().slice(0, MAX_WORKERS).map((node) => {
    const stats = r.stats.get(node);
    const language = workerLanguage(stats);
    return {
      node,
      language,
      software: software(stats, language),
      pid: isObject(stats) ? count(stats['pid']) : null,
      uptime: isObject(stats) ? count(stats['uptime']) : null,
      queues: queueNames(r.activeQueues.get(node)),
      tasks: names(r.registered.get(node)).sort().map((name) => ({ name, version: versionOf(name) })),
      active: activeTasks(r.active.get(node), nowMs / 1000),
      total: totals(stats),
      metrics: metricsUrl(node, stats),
    };
  });
}
