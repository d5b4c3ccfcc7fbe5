import type { ChannelModel } from 'amqplib';
import type { BackoffOptions } from '../connect-options.js';
import { describeCause } from '../errors.js';
import type { Logger } from '../logger.js';
import type { TaskContext } from '../worker/types.js';
import { Activity } from './activity.js';
import { broadcast } from './broadcast.js';
import { revokedDump, type BrokerInfo, type ConsumedQueue, type MetricsEndpoint, type NodeState } from './commands.js';
import { ControlNode } from './node.js';
import { LamportClock, nodeName } from './protocol.js';
import { RevokedSet } from './revoked.js';

/** Celery's mingle waits 1 s for its neighbours' `hello` replies (celery/worker/consumer/mingle.py). */
export const DEFAULT_MINGLE_TIMEOUT_MS = 1000;

/** What the task pipeline asks of remote control: cheap, synchronous, allocation-free checks. */
export interface TaskControl {
  /** The task id was revoked (and has not expired from the revoked set). */
  isRevoked(id: string): boolean;
  begin(context: TaskContext): void;
  end(context: TaskContext): void;
}

export interface WorkerControlOptions {
  readonly name?: string;
  readonly enabled: boolean;
  readonly mingleTimeoutMs: number;
  readonly prefetch: number;
  readonly softwareVersion: string;
  readonly log: Logger;
  readonly backoff?: BackoffOptions;
  readonly tasks: () => readonly string[];
  readonly queues: () => readonly ConsumedQueue[];
  readonly broker: () => BrokerInfo | null;
  readonly metrics?: () => MetricsEndpoint | null;
}

/**
 * A worker's side of Celery's remote control: its revoked set, what runs, its mailbox on every connection, and
 * mingle: before the first consume, a `hello` to every node, whose replies carry the ids they hold revoked.
 */
export class WorkerControl implements TaskControl {
  readonly node: string;
  readonly revoked = new RevokedSet();
  readonly activity = new Activity();
  private readonly clock = new LamportClock();
  private readonly state: NodeState;
  private mailbox: ControlNode | null = null;
  private mingled = false;

  constructor(private readonly o: WorkerControlOptions) {
    this.node = nodeName(o.name);
    const startedAt = Date.now();
    this.state = {
      node: this.node,
      revoked: this.revoked,
      activity: this.activity,
      clock: this.clock,
      startedAt,
      prefetch: o.prefetch,
      softwareVersion: o.softwareVersion,
      tasks: o.tasks,
      queues: o.queues,
      broker: o.broker,
      ...(o.metrics ? { metrics: o.metrics } : {}),
    };
  }

  isRevoked(id: string): boolean {
    return this.revoked.has(id);
  }

  begin(context: TaskContext): void {
    this.activity.begin(context);
  }

  end(context: TaskContext): void {
    this.activity.end(context);
  }

  /**
   * On every new connection, before the task consumers: the mailbox, then mingle. The first mingle is waited
   * for (a task revoked before this worker started must not slip through); after a reconnect it runs alongside.
   * Neither can stop the worker: without remote control it still runs tasks, and says so.
   */
  async attach(connection: ChannelModel): Promise<void> {
    if (!this.o.enabled) return;
    const mailbox = new ControlNode(this.state, this.o.log, this.o.backoff);
    this.mailbox = mailbox;
    try {
      await mailbox.attach(connection);
    } catch (e) {
      this.o.log.error('remote control unavailable on this connection (celery inspect and revoke will not reach this worker)', { node: this.node, error: describeCause(e) });
    }
    if (this.o.mingleTimeoutMs <= 0) return;
    const sync = this.mingle(connection);
    if (!this.mingled) await sync;
    this.mingled = true;
  }

  async detach(): Promise<void> {
    await this.mailbox?.detach();
  }

  private async mingle(connection: ChannelModel): Promise<void> {
    try {
      const replies = await broadcast(connection, {
        method: 'hello',
        arguments: { from_node: this.node, revoked: revokedDump(this.revoked) },
        timeoutMs: this.o.mingleTimeoutMs,
        clock: this.clock,
      });
      let nodes = 0;
      let learnt = 0;
      for (const { node, reply } of replies) {
        if (node === this.node || typeof reply !== 'object' || reply === null) continue;
        nodes++;
        const r = reply as { revoked?: unknown; clock?: unknown };
        this.clock.adjust(r.clock);
        if (typeof r.revoked === 'object' && r.revoked !== null && !Array.isArray(r.revoked)) learnt += this.revoked.merge(r.revoked as Record<string, unknown>);
      }
      this.o.log.info(nodes > 0 ? 'mingle: synced with other workers' : 'mingle: all alone', { node: this.node, nodes, revoked: learnt });
    } catch (e) {
      this.o.log.warn('mingle failed; starting without the revokes other workers hold', { node: this.node, error: describeCause(e) });
    }
  }
}
