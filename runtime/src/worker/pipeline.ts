import type { Options } from 'amqplib';
import { decodeDelivery } from '../celery/decode.js';
import type { TaskMessage } from '../celery/message.js';
import { exceptionInfo, type TaskState } from '../celery/result.js';
import { deadLetterProperties, DLQ_HEADERS, republishProperties } from '../deadletter.js';
import { ContractValidationError, describeCause } from '../errors.js';
import type { Logger } from '../logger.js';
import type { WorkerStats } from '../metrics/stats.js';
import { bindArguments, retryDelayMs } from '../task.js';
import { startProcess, type TaskSpan } from '../tracing.js';
import type { TaskControl } from '../control/worker-control.js';
import type { Delivery } from './delivery.js';
import type { EtaScheduler } from './eta.js';
import { HandlerContext } from './context.js';
import { TimeLimits, type LateOutcome, type TimeLimitExceeded } from './time-limits.js';
import type { DeadLetterReason, Registered } from './types.js';

/** Where a copy of a delivery goes: the dead-letter queue or a delay queue of its task queue. */
export type CopyTarget = { readonly kind: 'dlq' } | { readonly kind: 'delay'; readonly ms: number };

/** What the pipeline needs from the worker around it; small, so that it can be driven with faults in tests. */
export interface PipelineDeps {
  readonly tasks: ReadonlyMap<string, Registered>;
  readonly log: Logger;
  readonly maxPayloadBytes: number;
  /** Deliveries of one message (quorum queues count them) before it is dead-lettered unrun. */
  readonly deliveryLimit: number;
  readonly eta: EtaScheduler;
  /** Deprecated task versions already logged, per calling origin (the `origin` header). */
  readonly deprecatedUse: DeprecatedUse;
  /** Counts per task for metrics: plain numbers, cheap enough to bump on every delivery. */
  readonly stats: WorkerStats;
  /** The time in ms since the epoch (Date.now; the test harness's virtual clock): ETA and expiry are read against it. */
  readonly now: () => number;
  /** Sends Celery's rpc reply, unless the caller asked for none. */
  reply(m: TaskMessage, status: TaskState, result: unknown, traceback?: string | null): void;
  /**
   * Publishes a copy of the delivery to `target` (confirmed and routed), then acks the delivery; when the
   * copy cannot be stored, the delivery goes back to the broker at a bounded rate. Settles `d` either way.
   */
  move(d: Delivery, target: CopyTarget, properties: Options.Publish): Promise<void>;
  /** Remote control: revoked ids, running tasks. */
  readonly control?: TaskControl;
}

/**
 * Remembers which (task, origin) pairs were seen, so a deprecated version is logged once per caller. Bounded:
 * past `max` pairs the oldest is forgotten (and may be logged again), so many short-lived callers cannot grow it.
 */
export class DeprecatedUse {
  private readonly seen = new Set<string>();

  constructor(private readonly max = 10_000) {}

  /** True the first time this task is called from this origin. */
  first(task: string, origin: string | null): boolean {
    const key = JSON.stringify([task, origin]);
    if (this.seen.has(key)) return false;
    if (this.seen.size >= this.max) this.seen.delete(this.seen.values().next().value!);
    this.seen.add(key);
    return true;
  }
}

/** Contract errors are recognised by code, so a second copy of the runtime (in a bindings package) still matches. */
const isContractViolation = (e: unknown): e is Error => e instanceof Error && (e as { code?: unknown }).code === 'E_CONTRACT_VALIDATION';

/**
 * Runs the pipeline. An unexpected throw in it would throw again on every redelivery, so the delivery is
 * dead-lettered with the error (an `internal-error` to report); only if even that fails does it go back.
 */
export function processSafely(d: Delivery, deps: PipelineDeps): Promise<void> {
  return processDelivery(d, deps).catch(async (e: unknown) => {
    if (d.settled) return;
    await deadLetter(d, deps, 'internal-error', `taskbus failed on this delivery: ${describeCause(e)}`).catch((again: unknown) => {
      deps.log.error('could not dead-letter the delivery; it goes back to its queue', { task: d.task, id: d.id, error: describeCause(again) });
      d.requeueAfter(1000);
    });
  });
}

/**
 * One delivery from decode to settlement: refused deliveries are dead-lettered, expired ones revoked, ETA
 * ones held or parked, the rest run; every path ends with the delivery acked, moved or handed back.
 */
async function processDelivery(d: Delivery, deps: PipelineDeps): Promise<void> {
  const msg = d.msg;
  deps.stats.of(msg.properties.headers?.['task']).received++;
  // Only the broker's count of a redelivery: a first delivery's header was copied or forged by its sender
  // (a classic queue passes it through), and must not dead-letter a task that never ran.
  const count = msg.fields.redelivered ? deliveryCount(msg.properties.headers) : 0;
  if (count >= deps.deliveryLimit) {
    // Checked before anything else: whatever kills the worker on this message (decode included) must not loop.
    return deadLetter(d, deps, 'delivery-limit', `delivered ${count + 1} times without being settled (the worker died or lost its channel each time)`);
  }
  const parkedReason = msg.properties.headers?.[DLQ_HEADERS.reason];
  if (typeof parkedReason === 'string') {
    // A dead letter parked while its DLQ refused it: to the DLQ again, not run.
    const error = msg.properties.headers?.[DLQ_HEADERS.error];
    return deadLetter(d, deps, parkedReason as DeadLetterReason, typeof error === 'string' ? error : 'dead-lettered earlier');
  }
  if (msg.content.length > deps.maxPayloadBytes) {
    return deadLetter(d, deps, 'oversized', `body of ${msg.content.length} bytes exceeds the ${deps.maxPayloadBytes}-byte limit`);
  }
  const decoded = decodeDelivery(msg);
  if (!decoded.ok) return deadLetter(d, deps, decoded.reason, decoded.detail);
  const m = decoded.message;
  const registered = deps.tasks.get(m.task);
  if (!registered) {
    // As a Python worker does: not run, and a NotRegistered failure for a caller that waits.
    deps.reply(m, 'FAILURE', exceptionInfo('NotRegistered', `'${m.task}'`, 'celery.exceptions'));
    return deadLetter(d, deps, 'unknown-task', `no handler for task ${m.task} on this worker`);
  }
  const call = bindArguments(registered.spec.argNames, m.args, m.kwargs);
  try {
    registered.spec.assertArgs(call.args, call.kwargs);
  } catch (e) {
    if (!isContractViolation(e)) throw e;
    deps.reply(m, 'FAILURE', exceptionInfo('TypeError', e.message));
    return deadLetter(d, deps, 'invalid-arguments', e.message);
  }
  if (registered.spec.deprecated !== undefined && deps.deprecatedUse.first(m.task, m.origin)) {
    const note = registered.spec.deprecated === true ? undefined : registered.spec.deprecated;
    deps.log.warn('deprecated task version called', { task: m.task, id: m.id, origin: m.origin ?? 'unknown', ...(note ? { note } : {}) });
  }
  if (revokedIfExpired(d, deps, m)) return;
  const delay = m.eta ? m.eta.getTime() - deps.now() : 0;
  if (delay > 0) {
    const plan = deps.eta.plan(d, delay);
    if ('parkMs' in plan) return deps.move(d, { kind: 'delay', ms: plan.parkMs }, republishProperties(msg.properties, msg.properties.headers ?? {}));
    if (!(await plan.hold)) return; // given back: stopping, or the channel went
    if (revokedIfExpired(d, deps, m)) return; // it may have expired during the hold
  }
  const span = startProcess(msg.properties.headers, m, d.queue, msg.fields.routingKey);
  if (!span) return run(d, deps, m, registered, call);
  // The span covers the handler, the reply and the settling, as Python's covers prerun to postrun.
  try {
    await span.run(() => run(d, deps, m, registered, call, span));
  } finally {
    span.end();
  }
}

/** Earlier deliveries of this message, as a quorum queue counts them; 0 on classic queues, which do not. */
function deliveryCount(headers: Readonly<Record<string, unknown>> | undefined): number {
  const n = headers?.['x-delivery-count'];
  return typeof n === 'number' && Number.isFinite(n) ? n : 0;
}

function revokedIfExpired(d: Delivery, deps: PipelineDeps, m: TaskMessage): boolean {
  if (deps.control?.isRevoked(m.id)) {
    // As Celery's Request.revoked(): not run, REVOKED for the caller, acked.
    deps.log.info('task revoked before it ran; discarded', { task: m.task, id: m.id });
    deps.reply(m, 'REVOKED', exceptionInfo('TaskRevokedError', 'revoked', 'celery.exceptions'));
    d.ack();
    return true;
  }
  if (!m.expires || m.expires.getTime() > deps.now()) return false;
  deps.stats.of(m.task).expired++;
  deps.log.warn('task expired before it ran; discarded', { task: m.task, id: m.id, expires: m.expires.toISOString() });
  deps.reply(m, 'REVOKED', exceptionInfo('TaskRevokedError', 'expired', 'celery.exceptions'));
  d.ack();
  return true;
}

async function run(d: Delivery, deps: PipelineDeps, m: TaskMessage, r: Registered, call: ReturnType<typeof bindArguments>, span?: TaskSpan): Promise<void> {
  const stats = deps.stats.of(m.task);
  stats.inFlight++;
  const started = performance.now();
  // Only a task with a time limit gets timers (and an AbortController up front).
  const limits = TimeLimits.of(m);
  const context = new HandlerContext(d, m, limits);
  let result: unknown;
  deps.control?.begin(context);
  try {
    result = await (limits ? limits.run(() => r.handler(call.args, call.kwargs, context), (late) => abandonedEnded(deps, m, late)) : r.handler(call.args, call.kwargs, context));
  } catch (e) {
    stats.ran(started, performance.now());
    span?.fail(e);
    if (limits?.expired) return timedOut(d, deps, m, limits.expired);
    return failed(d, deps, m, r, e, span);
  } finally {
    deps.control?.end(context);
  }
  const ended = performance.now();
  stats.ran(started, ended);
  const issues = r.spec.checkResult(result);
  if (issues.length > 0) {
    stats.failed++;
    const e = new ContractValidationError(m.task, issues, 'result');
    span?.fail(e);
    deps.log.error('handler returned a result that breaks the contract', { task: m.task, id: m.id, error: e.message });
    deps.reply(m, 'FAILURE', exceptionInfo('ContractValidationError', e.message));
  } else {
    stats.succeeded++;
    deps.reply(m, 'SUCCESS', result);
  }
  d.ack();
  deps.log.info('task succeeded', { task: m.task, id: m.id, ms: Math.round(ended - started) });
}

/** A handler threw: retry through a delay queue while the contract allows, then dead-letter. */
async function failed(d: Delivery, deps: PipelineDeps, m: TaskMessage, r: Registered, e: unknown, span?: TaskSpan): Promise<void> {
  const error = e instanceof Error ? e : new Error(String(e));
  const policy = r.spec.retry;
  if (m.retries + 1 < policy.maxAttempts) {
    const delayMs = retryDelayMs(policy, m.retries);
    deps.stats.of(m.task).retried++;
    deps.log.warn('task failed; will retry', { task: m.task, id: m.id, attempt: m.retries + 1, of: policy.maxAttempts, delayMs, error: describeCause(error) });
    const headers = { ...(d.msg.properties.headers ?? {}), retries: m.retries + 1, parent_id: m.id };
    // The next attempt is a child of this one, as a Python retry published from inside the task would be.
    span?.inject(headers);
    return deps.move(d, { kind: 'delay', ms: delayMs }, republishProperties(d.msg.properties, headers));
  }
  deps.stats.of(m.task).failed++;
  deps.log.error('task failed; dead-lettered', { task: m.task, id: m.id, attempts: m.retries + 1, error: describeCause(error) });
  deps.reply(m, 'FAILURE', exceptionInfo(error.name, error.message), error.stack ?? null);
  await deadLetter(d, deps, 'failed', `${error.name}: ${error.message} (after ${m.retries + 1} attempt${m.retries ? 's' : ''})`);
}

/**
 * The hard time limit passed: as Celery, the task fails with TimeLimitExceeded (exactly as a Celery 5.2 worker
 * replies it) and is not retried; the delivery is dead-lettered (`time-limit`). The handler is not awaited.
 */
function timedOut(d: Delivery, deps: PipelineDeps, m: TaskMessage, e: TimeLimitExceeded): Promise<void> {
  if (d.settled === 'channel-lost') {
    // Its channel closed first (stop() gave up waiting, or the connection went): the broker redelivers the task,
    // so it has not failed; a reply or a dead letter now would be false.
    deps.log.warn('hard time limit passed after the delivery went back to the broker; it will run again', { task: m.task, id: m.id, seconds: e.seconds });
    return Promise.resolve();
  }
  deps.stats.of(m.task).failed++;
  deps.log.error('hard time limit exceeded; the task failed, its handler is abandoned and runs on unawaited', { task: m.task, id: m.id, seconds: e.seconds });
  deps.reply(m, 'FAILURE', { exc_type: 'TimeLimitExceeded', exc_message: [e.seconds], exc_module: 'billiard.exceptions' });
  return deadLetter(d, deps, 'time-limit', `TimeLimitExceeded(${e.seconds}): the handler ran past the hard time limit of ${e.seconds} s`);
}

/** A handler abandoned at its hard limit ended after all: its result or error is dropped, only logged. */
function abandonedEnded(deps: PipelineDeps, m: TaskMessage, late: LateOutcome): void {
  const how = 'threw' in late ? { error: describeCause(late.threw) } : {};
  deps.log.warn('a handler abandoned at its hard time limit ended; its outcome is ignored', { task: m.task, id: m.id, ...how });
}

/** To `<queue>.dlq` with its body, headers and the reason; acked only once the copy is stored. */
function deadLetter(d: Delivery, deps: PipelineDeps, reason: DeadLetterReason, detail: string): Promise<void> {
  deps.stats.of(d.task).deadLetter(reason);
  deps.log.error('delivery dead-lettered', { queue: d.queue, reason, detail, task: d.task, id: d.id });
  return deps.move(d, { kind: 'dlq' }, deadLetterProperties(d.msg, d.queue, reason, detail, new Date(deps.now())));
}
