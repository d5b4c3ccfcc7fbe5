import { systemClock, type Clock } from './clock.js';
import { readException, type ResultMessage } from './celery/result.js';
import { RemoteTaskError, ResultTimeoutError, ResultUnavailableError, type ResultUnavailableReason } from './errors.js';
import type { Logger } from './logger.js';

export interface ResultLimits {
  /** How long a reply nobody claimed, or a sent task still without a reply, is kept after its last event. */
  readonly ttlMs: number;
  /** Bound on the bytes of replies nobody has claimed yet; the oldest are dropped first past it. */
  readonly maxUnclaimedBytes: number;
}

/** A task this client sent and expects one reply for. */
export class ResultTicket {
  /** The reply, or the reason there will be none. Replaced (never kept) when an unclaimed reply is dropped. */
  reply: Promise<ResultMessage>;
  private resolveReply!: (m: ResultMessage) => void;
  private rejectReply!: (e: Error) => void;
  /** result() was called: the reply goes to the caller as soon as it comes and is no longer counted here. */
  claimed = false;
  /** result() calls waiting right now: a task someone waits for is never dropped. */
  waiters = 0;
  /** Size of the reply while it waits unclaimed. */
  bytes = 0;
  expiresAt: number;

  constructor(
    readonly taskId: string,
    readonly task: string,
    expiresAt: number,
  ) {
    this.expiresAt = expiresAt;
    this.reply = new Promise<ResultMessage>((resolve, reject) => {
      this.resolveReply = resolve;
      this.rejectReply = reject;
    });
    this.reply.catch(() => undefined); // nobody may ever ask; the outcome is read by result() only
  }

  answer(m: ResultMessage): void {
    this.resolveReply(m);
  }

  fail(reason: ResultUnavailableReason | Error): void {
    const error = reason instanceof Error ? reason : new ResultUnavailableError(this.taskId, this.task, reason);
    this.rejectReply(error);
    // An answered promise cannot be rejected: a dropped reply is replaced, so its bytes are freed.
    this.reply = Promise.reject(error);
    this.reply.catch(() => undefined);
  }
}

/**
 * Replies of the tasks this client sent, until result() claims them. Every reply a client might still ask
 * for is kept for `ttlMs` after it came, within `maxUnclaimedBytes`; whatever is dropped is logged with its
 * task id, and a later result() says why (ResultUnavailableError) instead of timing out.
 */
export class ResultStore {
  /** Sent, no reply yet. */
  private readonly awaiting = new Map<string, ResultTicket>();
  /** Replied, not claimed yet, oldest first. */
  private readonly unclaimed = new Map<string, ResultTicket>();
  private unclaimedBytes = 0;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly limits: ResultLimits,
    private readonly log: Logger,
    /** Ticket expiry and result()'s timeout (the test harness's virtual clock); the sweeps stay on real time. */
    private readonly clock: Clock = systemClock,
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.max(10, Math.min(limits.ttlMs / 4, 60_000)));
    this.sweeper.unref();
  }

  /** Registers a task about to be sent, before it is written: its reply may come before the confirm. */
  expect(taskId: string, task: string): ResultTicket {
    const ticket = new ResultTicket(taskId, task, this.clock.now() + this.limits.ttlMs);
    this.awaiting.set(taskId, ticket);
    return ticket;
  }

  /** The send failed: no reply will come. */
  forget(ticket: ResultTicket): void {
    if (this.awaiting.get(ticket.taskId) === ticket) this.awaiting.delete(ticket.taskId);
  }

  /** A final reply arrived on the reply queue. */
  deliver(m: ResultMessage, bytes: number): void {
    const ticket = this.awaiting.get(m.taskId);
    if (!ticket) {
      this.log.warn('reply dropped: this client is not waiting for that task (sent by another client, answered already, or past resultTtlMs)', {
        id: m.taskId,
        status: m.status,
      });
      return;
    }
    this.awaiting.delete(m.taskId);
    ticket.answer(m);
    if (ticket.claimed) return;
    ticket.bytes = bytes;
    ticket.expiresAt = this.clock.now() + this.limits.ttlMs;
    this.unclaimed.set(m.taskId, ticket);
    this.unclaimedBytes += bytes;
    for (const oldest of this.unclaimed.values()) {
      if (this.unclaimedBytes <= this.limits.maxUnclaimedBytes) break;
      this.drop(oldest, 'evicted');
    }
  }

  /** The task's outcome (its value, or RemoteTaskError): claimed once per ticket and shared by later calls. */
  claim(ticket: ResultTicket): Promise<unknown> {
    if (!ticket.claimed) {
      ticket.claimed = true;
      if (this.unclaimed.delete(ticket.taskId)) this.unclaimedBytes -= ticket.bytes;
    }
    return ticket.reply.then((m) => {
      if (m.status === 'SUCCESS') return m.result;
      const e = readException(m.result);
      throw new RemoteTaskError(m.taskId, ticket.task, e.type, e.message, e.module, m.traceback, m.status === 'REVOKED' ? 'REVOKED' : 'FAILURE');
    });
  }

  /** `outcome` if it settles within `timeoutMs`, else ResultTimeoutError; the ticket is kept meanwhile. */
  async within<T>(ticket: ResultTicket, outcome: Promise<T>, timeoutMs: number): Promise<T> {
    ticket.waiters++;
    let cancel: (() => void) | undefined;
    try {
      return await Promise.race([
        outcome,
        new Promise<never>((_, reject) => (cancel = this.clock.after(timeoutMs, () => reject(new ResultTimeoutError(ticket.taskId, ticket.task, timeoutMs))))),
      ]);
    } finally {
      cancel?.();
      ticket.waiters--;
      ticket.expiresAt = this.clock.now() + this.limits.ttlMs;
    }
  }

  /** Drops what has outlived the TTL; run periodically. */
  sweep(): void {
    const now = this.clock.now();
    for (const t of this.unclaimed.values()) if (t.expiresAt <= now) this.drop(t, 'expired');
    for (const t of this.awaiting.values()) {
      if (t.expiresAt > now || t.waiters > 0) continue;
      this.awaiting.delete(t.taskId);
      this.log.info('stopped waiting for a reply: none came within resultTtlMs', { id: t.taskId, task: t.task });
      t.fail('no-reply');
    }
  }

  /** Fails every wait that has no reply yet (the client is closing) and stops the sweeps. */
  close(reason: Error): void {
    clearInterval(this.sweeper);
    for (const t of this.awaiting.values()) t.fail(reason);
    this.awaiting.clear();
  }

  private drop(t: ResultTicket, reason: 'expired' | 'evicted'): void {
    this.unclaimed.delete(t.taskId);
    this.unclaimedBytes -= t.bytes;
    this.log.warn(
      reason === 'expired' ? 'unclaimed reply dropped: nobody asked for it within resultTtlMs' : 'unclaimed reply dropped: unclaimed replies exceed maxUnclaimedBytes',
      { id: t.taskId, task: t.task, bytes: t.bytes },
    );
    t.fail(reason);
  }
}
