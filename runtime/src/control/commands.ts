import type { Activity } from './activity.js';
import { PyFloat, type ControlRequest, type LamportClock } from './protocol.js';
import { isTaskId, type RevokedSet } from './revoked.js';

/** A queue the worker consumes, as `inspect active_queues` describes it. */
export interface ConsumedQueue {
  readonly name: string;
  readonly arguments: Readonly<Record<string, unknown>> | null;
}

/** Where the worker is connected, without the password. */
export interface BrokerInfo {
  readonly hostname: string;
  readonly port: number;
  readonly userid: string;
  readonly virtualHost: string;
  readonly ssl: boolean;
  readonly heartbeat: number;
}

/** What the commands read from the worker. */
export interface NodeState {
  readonly node: string;
  readonly revoked: RevokedSet;
  readonly activity: Activity;
  readonly clock: LamportClock;
  readonly startedAt: number;
  readonly prefetch: number;
  readonly softwareVersion: string;
  tasks(): readonly string[];
  queues(): readonly ConsumedQueue[];
  broker(): BrokerInfo | null;
  /** Where this worker serves its Prometheus metrics, when it does (`taskbus ui` scrapes it). */
  metrics?(): MetricsEndpoint | null;
}

/** A worker's `/metrics` endpoint as its `stats` reply tells it (`taskbus_metrics`; Celery clients ignore the key). */
export interface MetricsEndpoint {
  readonly host: string;
  readonly port: number;
}

/** A running task as Celery's Request.info() shows it in `inspect active`. */
export interface CeleryActiveTask {
  readonly id: string;
  readonly name: string;
  readonly args: readonly unknown[];
  readonly kwargs: Readonly<Record<string, unknown>>;
  readonly type: string;
  readonly hostname: string;
  readonly time_start: number;
  readonly acknowledged: boolean;
  readonly delivery_info: { readonly exchange: string; readonly routing_key: string; readonly priority: number | null; readonly redelivered: boolean };
  readonly worker_pid: number;
}

/** What a command did: a reply for the caller (null is a reply too), and for revoke the ids revoked. */
export interface CommandOutcome {
  readonly reply: unknown;
  readonly revoked?: readonly string[];
  /** Another worker's revokes merged by `hello`. */
  readonly learnt?: number;
}

const ok = (value: string) => ({ ok: value });

/** Runs one request on this node's state; pure apart from the state it changes (revokes, the clock). */
export function runCommand(r: ControlRequest, s: NodeState): CommandOutcome {
  const a = r.arguments;
  switch (r.method) {
    case 'ping':
      return { reply: ok('pong') };
    case 'registered':
    case 'dump_tasks':
      return { reply: [...s.tasks()].sort() };
    case 'active':
    case 'dump_active':
      return { reply: active(s) };
    case 'active_queues':
      return { reply: s.queues().map(queueInfo) };
    case 'stats':
      return { reply: stats(s) };
    case 'clock':
      return { reply: { clock: s.clock.value } };
    case 'revoked':
    case 'dump_revoked':
      return { reply: s.revoked.ids() };
    case 'revoke': {
      const raw = a['task_id'];
      const ids = (Array.isArray(raw) ? raw : [raw]).filter((id): id is string => typeof id === 'string' && isTaskId(id));
      for (const id of ids) s.revoked.add(id);
      // Terminating a running handler is not offered: a JavaScript function cannot be stopped from outside.
      if (a['terminate'] === true) return { reply: ok('terminate: not supported by taskbus workers; tasks flagged as revoked'), revoked: ids };
      return { reply: ok(`tasks ${ids.join(', ')} flagged as revoked`), revoked: ids };
    }
    case 'hello': {
      // celery/worker/control.py hello: merge the newcomer's revokes, answer with ours (not to oneself).
      if (a['from_node'] === s.node) return { reply: null };
      const theirs = a['revoked'];
      const learnt = typeof theirs === 'object' && theirs !== null && !Array.isArray(theirs) ? s.revoked.merge(theirs as Record<string, unknown>) : 0;
      return { reply: { revoked: revokedDump(s.revoked), clock: s.clock.forward() }, learnt };
    }
    default:
      return { reply: { error: `unknown or unsupported control command ${JSON.stringify(r.method)} (taskbus worker)` } };
  }
}

/** The revoked set as Celery sends `LimitedSet._data`: `{id: [time, id]}`, time a float. */
export function revokedDump(revoked: RevokedSet): Record<string, [PyFloat, string]> {
  const out: Record<string, [PyFloat, string]> = {};
  for (const [id, t] of revoked.entries()) out[id] = [new PyFloat(t), id];
  return out;
}

function active(s: NodeState): CeleryActiveTask[] {
  const tasks: CeleryActiveTask[] = [];
  for (const [c, started] of s.activity.running) {
    tasks.push({
      id: c.id,
      name: c.task,
      args: c.message.args,
      kwargs: c.message.kwargs as Record<string, unknown>,
      type: c.task,
      hostname: s.node,
      time_start: started / 1000,
      acknowledged: false,
      delivery_info: { exchange: '', routing_key: c.queue, priority: null, redelivered: c.redelivered },
      worker_pid: process.pid,
    });
  }
  return tasks;
}

/** kombu's Queue.as_dict(recurse=True) for a task queue bound to the direct exchange of its name. */
function queueInfo(q: ConsumedQueue): Record<string, unknown> {
  return {
    name: q.name,
    exchange: { name: q.name, type: 'direct', arguments: null, durable: true, passive: false, auto_delete: false, delivery_mode: null, no_declare: false },
    routing_key: q.name,
    queue_arguments: q.arguments,
    binding_arguments: null,
    consumer_arguments: null,
    durable: true,
    exclusive: false,
    auto_delete: false,
    no_ack: false,
    alias: null,
    bindings: [],
    no_declare: null,
    expires: null,
    message_ttl: null,
    max_length: null,
    max_length_bytes: null,
    max_priority: null,
  };
}

/** A subset of Celery's worker stats with the same keys and shapes, plus what only taskbus has (`sw_ident`, `revoked`). */
function stats(s: NodeState): Record<string, unknown> {
  const usage = process.resourceUsage();
  const b = s.broker();
  return {
    total: Object.fromEntries([...s.activity.total.entries()].sort(([x], [y]) => (x < y ? -1 : 1))),
    pid: process.pid,
    clock: String(s.clock.value),
    uptime: Math.round((Date.now() - s.startedAt) / 1000),
    pool: { implementation: 'taskbus (node event loop)', 'max-concurrency': s.prefetch, processes: [process.pid], 'max-tasks-per-child': null, 'put-guarded-by-semaphore': false, timeouts: [] },
    broker: b
      ? { hostname: b.hostname, userid: b.userid, virtual_host: b.virtualHost, port: b.port, insist: false, ssl: b.ssl, transport: 'amqp', connect_timeout: 10, transport_options: {}, login_method: 'PLAIN', uri_prefix: null, heartbeat: new PyFloat(b.heartbeat), failover_strategy: 'round-robin', alternates: [] }
      : null,
    prefetch_count: s.prefetch,
    rusage: { utime: new PyFloat(usage.userCPUTime / 1e6), stime: new PyFloat(usage.systemCPUTime / 1e6), maxrss: usage.maxRSS },
    sw_ident: 'taskbus',
    sw_ver: s.softwareVersion,
    sw_sys: process.platform,
    revoked: s.revoked.size,
    active: s.activity.running.size,
    ...metricsInfo(s),
  };
}

function metricsInfo(s: NodeState): Record<string, unknown> {
  const m = s.metrics?.() ?? null;
  return m ? { taskbus_metrics: { host: m.host, port: m.port, path: '/metrics' } } : {};
}
