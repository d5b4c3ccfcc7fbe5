import { Type } from '@sinclair/typebox';
import type { Channel, ConsumeMessage, Options } from 'amqplib';
import { expect } from 'chai';
import { encodeTask } from '../../../runtime/src/celery/encode.js';
import { silentLogger } from '../../../runtime/src/logger.js';
import { WorkerStats } from '../../../runtime/src/metrics/stats.js';
import { defineTask } from '../../../runtime/src/task.js';
import type { CopyResult, WorkerChannels } from '../../../runtime/src/worker/channels.js';
import { ConsumeGeneration, Delivery } from '../../../runtime/src/worker/delivery.js';
import { EtaScheduler } from '../../../runtime/src/worker/eta.js';
import { Mover } from '../../../runtime/src/worker/mover.js';
import { DeprecatedUse, processSafely, type PipelineDeps } from '../../../runtime/src/worker/pipeline.js';
import type { Registered } from '../../../runtime/src/worker/types.js';

/** Counts every ack and nack per delivery tag, as the broker would see them. */
class CountingChannel {
  readonly settlements = new Map<number, string[]>();
  ack(m: ConsumeMessage): void {
    this.count(m, 'ack');
  }
  nack(m: ConsumeMessage, _all?: boolean, requeue?: boolean): void {
    this.count(m, requeue ? 'nack-requeue' : 'nack-drop');
  }
  private count(m: ConsumeMessage, what: string): void {
    this.settlements.set(m.fields.deliveryTag, [...(this.settlements.get(m.fields.deliveryTag) ?? []), what]);
  }
}

const spec = defineTask<[n: number], Record<string, never>, string>({
  name: 'settle.job',
  queue: 'settle',
  args: { n: Type.Integer() },
  result: Type.String(),
  retry: { maxAttempts: 2, initialDelayMs: 10 },
});

type Kind = 'ok' | 'throws-retry' | 'throws-final' | 'throws-non-error' | 'bad-result' | 'undecodable' | 'unknown-task' | 'invalid-args' | 'expired' | 'eta-soon' | 'eta-far' | 'delivery-limit';
const KINDS: readonly Kind[] = ['ok', 'throws-retry', 'throws-final', 'throws-non-error', 'bad-result', 'undecodable', 'unknown-task', 'invalid-args', 'expired', 'eta-soon', 'eta-far', 'delivery-limit'];
const DELIVERY_LIMIT = 20;

type Fault =
  | 'none'
  | 'reply-throws'
  | 'declare-rejects'
  | 'unroutable-once'
  | 'unroutable-always'
  | 'copy-refused'
  | 'copy-throws'
  | 'no-channels'
  | 'channel-lost-while-running'
  | 'settled-twice-by-handler'
  | 'dlq-refused-park-ok';
const FAULTS: readonly Fault[] = ['none', 'reply-throws', 'declare-rejects', 'unroutable-once', 'unroutable-always', 'copy-refused', 'copy-throws', 'no-channels', 'channel-lost-while-running', 'settled-twice-by-handler', 'dlq-refused-park-ok'];

let tag = 0;
function message(kind: Kind): ConsumeMessage {
  const n = kind === 'invalid-args' ? 'x' : kind === 'throws-retry' ? 1 : kind === 'throws-final' ? 2 : kind === 'throws-non-error' ? 3 : kind === 'bad-result' ? 4 : 0;
  const task = kind === 'unknown-task' ? 'settle.nope' : 'settle.job';
  const options = {
    ...(kind === 'expired' ? { expires: new Date(Date.now() - 1000) } : {}),
    ...(kind === 'eta-soon' ? { countdown: 0.02 } : {}),
    ...(kind === 'eta-far' ? { countdown: 3600 } : {}),
    ...(kind === 'throws-final' || kind === 'throws-non-error' ? { retries: 1 } : {}),
  };
  const e = encodeTask({ id: `id-${kind}-${tag}`, task, args: [n], kwargs: {}, replyTo: 'reply-q', origin: 'test', options });
  const content = kind === 'undecodable' ? Buffer.from('[[1], {') : e.content;
  // amqplib hands headers over decoded: typed integers arrive as plain numbers.
  const plain = (v: unknown): unknown => (Array.isArray(v) ? v.map(plain) : v && typeof v === 'object' && '!' in v ? (v as unknown as { value: unknown }).value : v);
  const headers = {
    ...Object.fromEntries(Object.entries(e.properties.headers ?? {}).map(([k, v]) => [k, plain(v)])),
    // A quorum queue's count of earlier deliveries: this one has been handed out too often.
    ...(kind === 'delivery-limit' ? { 'x-delivery-count': DELIVERY_LIMIT } : {}),
  };
  return {
    content,
    fields: { deliveryTag: ++tag, redelivered: kind === 'delivery-limit', consumerTag: 'c', exchange: '', routingKey: 'settle' },
    properties: { ...e.properties, headers },
  } as unknown as ConsumeMessage;
}

/** Channels that fail the way the fault says; the Mover on top of them is the real one. */
function faultyChannels(fault: Fault, generation: ConsumeGeneration): WorkerChannels {
  let returns = 0;
  return {
    declare: async () => {
      if (fault === 'declare-rejects') throw new Error('406 PRECONDITION_FAILED');
    },
    forget: () => undefined,
    publishCopy: async (queue: string, _c: Buffer, _p: Options.Publish): Promise<CopyResult> => {
      if (fault === 'dlq-refused-park-ok') return queue.endsWith('.dlq') ? 'refused' : 'routed';
      if (fault === 'copy-throws') throw new Error('IllegalOperationError: Channel closed');
      if (fault === 'copy-refused') return 'refused';
      if (fault === 'unroutable-always') return 'unroutable';
      if (fault === 'unroutable-once' && returns++ === 0) return 'unroutable';
      if (fault === 'channel-lost-while-running') generation.lost();
      return 'routed';
    },
  } as unknown as WorkerChannels;
}

async function settleOne(kind: Kind, fault: Fault): Promise<string[]> {
  const channel = new CountingChannel();
  const generation = new ConsumeGeneration(channel as unknown as Channel);
  const msg = message(kind);
  const d = new Delivery(msg, 'settle', generation, silentLogger);
  const channels = fault === 'no-channels' ? null : faultyChannels(fault, generation);
  const mover = new Mover(() => channels, silentLogger);
  const handler = ([n]: readonly unknown[]) => {
    if (fault === 'channel-lost-while-running') generation.lost();
    if (fault === 'settled-twice-by-handler') d.ack();
    if (n === 1 || n === 2) throw new Error(`fails ${String(n)}`);
    if (n === 3) throw 'a string'; // eslint-disable-line no-throw-literal
    return n === 4 ? 42 : 'done';
  };
  const deps: PipelineDeps = {
    tasks: new Map<string, Registered>([['settle.job', { spec, handler } as unknown as Registered]]),
    log: silentLogger,
    maxPayloadBytes: 1 << 20,
    deliveryLimit: DELIVERY_LIMIT,
    eta: new EtaScheduler(4, 60_000),
    deprecatedUse: new DeprecatedUse(),
    stats: new WorkerStats(),
    now: Date.now,
    reply: () => {
      if (fault === 'reply-throws') throw new Error('reply channel gone');
    },
    move: (del, target, properties) => mover.move(del, target, properties),
  };
  await processSafely(d, deps);
  d.hurry(); // a delivery sent back "later" goes back now, so that its nack is counted
  expect(d.settled, `${kind} under ${fault} must end settled`).to.not.equal(null);
  return channel.settlements.get(msg.fields.deliveryTag) ?? [];
}

describe('every delivery is settled exactly once, whatever fails in the pipeline', () => {
  for (const kind of KINDS) {
    for (const fault of FAULTS) {
      it(`${kind} under ${fault}`, async () => {
        const seen = await settleOne(kind, fault);
        const moved = ['throws-retry', 'throws-final', 'throws-non-error', 'undecodable', 'unknown-task', 'invalid-args', 'eta-far', 'delivery-limit'].includes(kind);
        const copyFails = ['declare-rejects', 'unroutable-always', 'copy-refused', 'copy-throws', 'no-channels'].includes(fault);
        if (fault === 'channel-lost-while-running' && kind !== 'expired') {
          // The channel went: nothing may be settled on it; the broker has the delivery back.
          expect(seen, 'no settlement on a lost channel').to.deep.equal([]);
        } else if (moved && copyFails) {
          expect(seen, 'never acked unless the copy was stored').to.deep.equal(['nack-requeue']);
        } else {
          expect(seen, 'one ack for the delivery tag').to.deep.equal(['ack']);
        }
      });
    }
  }

  it('an unroutable copy is tried again after declaring its queue, then acked', async () => {
    expect(await settleOne('undecodable', 'unroutable-once')).to.deep.equal(['ack']);
  });

  it('a contract violation thrown by another copy of the runtime is recognised by its code: dead-lettered, TypeError replied', async () => {
    const channel = new CountingChannel();
    const generation = new ConsumeGeneration(channel as unknown as Channel);
    const msg = message('ok');
    const d = new Delivery(msg, 'settle', generation, silentLogger);
    class ForeignContractError extends Error {
      readonly code = 'E_CONTRACT_VALIDATION';
    }
    const foreign = { ...spec, assertArgs: () => { throw new ForeignContractError('invalid arguments for task settle.job'); } };
    const replies: string[] = [];
    const moved: string[] = [];
    await processSafely(d, {
      tasks: new Map<string, Registered>([['settle.job', { spec: foreign, handler: () => 'ran' } as unknown as Registered]]),
      log: silentLogger,
      maxPayloadBytes: 1 << 20,
      deliveryLimit: DELIVERY_LIMIT,
      eta: new EtaScheduler(4, 60_000),
      deprecatedUse: new DeprecatedUse(),
      stats: new WorkerStats(),
      now: Date.now,
      reply: (_m, status, result) => void replies.push(`${status} ${(result as { exc_type: string }).exc_type}`),
      move: async (del, target, properties) => {
        moved.push(`${target.kind} ${String(properties.headers?.['x-taskbus-reason'])}`);
        del.ack();
      },
    });
    expect(replies).to.deep.equal(['FAILURE TypeError']);
    expect(moved).to.deep.equal(['dlq invalid-arguments']);
    expect(channel.settlements.get(msg.fields.deliveryTag)).to.deep.equal(['ack']);
  });
});
