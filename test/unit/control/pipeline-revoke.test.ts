import { Type } from '@sinclair/typebox';
import type { Channel, ConsumeMessage } from 'amqplib';
import { expect } from 'chai';
import { encodeTask } from '../../../runtime/src/celery/encode.js';
import { silentLogger } from '../../../runtime/src/logger.js';
import { defineTask } from '../../../runtime/src/task.js';
import type { TaskControl } from '../../../runtime/src/control/worker-control.js';
import { RevokedSet } from '../../../runtime/src/control/revoked.js';
import { WorkerStats } from '../../../runtime/src/metrics/stats.js';
import { ConsumeGeneration, Delivery } from '../../../runtime/src/worker/delivery.js';
import { EtaScheduler } from '../../../runtime/src/worker/eta.js';
import { DeprecatedUse, processSafely, type PipelineDeps } from '../../../runtime/src/worker/pipeline.js';
import type { Registered, TaskContext } from '../../../runtime/src/worker/types.js';

const spec = defineTask<[n: number], Record<string, never>, number>({ name: 'rev.job', queue: 'rev', args: { n: Type.Integer() }, result: Type.Integer() });

function delivery(id: string, countdown?: number): { d: Delivery; acks: number[] } {
  const acks: number[] = [];
  const channel = { ack: (m: ConsumeMessage) => acks.push(m.fields.deliveryTag), nack: () => acks.push(-1) };
  const e = encodeTask({ id, task: 'rev.job', args: [1], kwargs: {}, replyTo: 'reply-q', origin: 'test', options: countdown ? { countdown } : {} });
  const plain = (v: unknown): unknown => (v && typeof v === 'object' && '!' in v ? (v as unknown as { value: unknown }).value : v);
  const headers = Object.fromEntries(Object.entries(e.properties.headers ?? {}).map(([k, v]) => [k, plain(v)]));
  const msg = { content: e.content, fields: { deliveryTag: 1, redelivered: false, consumerTag: 'c', exchange: '', routingKey: 'rev' }, properties: { ...e.properties, headers } } as unknown as ConsumeMessage;
  return { d: new Delivery(msg, 'rev', new ConsumeGeneration(channel as unknown as Channel), silentLogger), acks };
}

function deps(revoked: RevokedSet, ran: number[], replies: string[], seen: string[]): PipelineDeps {
  const control: TaskControl = {
    isRevoked: (id) => revoked.has(id),
    begin: (c: TaskContext) => seen.push(`begin ${c.id}`),
    end: (c: TaskContext) => seen.push(`end ${c.id}`),
  };
  return {
    tasks: new Map<string, Registered>([['rev.job', { spec, handler: ([n]: readonly unknown[]) => (ran.push(n as number), 2) } as unknown as Registered]]),
    log: silentLogger,
    maxPayloadBytes: 1 << 20,
    deliveryLimit: 20,
    eta: new EtaScheduler(4, 60_000),
    deprecatedUse: new DeprecatedUse(),
    stats: new WorkerStats(),
    now: Date.now,
    reply: (_m, status, result) => replies.push(`${status} ${JSON.stringify(result)}`),
    move: async () => undefined,
    control,
  };
}

describe('the pipeline and revoked task ids', () => {
  it('a revoked task is not run: REVOKED (TaskRevokedError) to its caller, and the delivery acked', async () => {
    const revoked = new RevokedSet();
    revoked.add('id-1');
    const [ran, replies, seen] = [[], [], []] as [number[], string[], string[]];
    const { d, acks } = delivery('id-1');
    await processSafely(d, deps(revoked, ran, replies, seen));
    expect(ran).to.deep.equal([]);
    expect(replies).to.deep.equal(['REVOKED {"exc_type":"TaskRevokedError","exc_message":["revoked"],"exc_module":"celery.exceptions"}']);
    expect(acks).to.deep.equal([1]);
    expect(d.settled).to.equal('acked');
  });

  it('a task revoked while held for its ETA is refused when the hold ends', async () => {
    const revoked = new RevokedSet();
    const [ran, replies, seen] = [[], [], []] as [number[], string[], string[]];
    const { d, acks } = delivery('id-2', 0.1);
    const done = processSafely(d, deps(revoked, ran, replies, seen));
    revoked.add('id-2');
    await done;
    expect(ran).to.deep.equal([]);
    expect(replies[0]).to.match(/^REVOKED /);
    expect(acks).to.deep.equal([1]);
  });

  it('other tasks run, and are seen by `inspect active` while they do', async () => {
    const [ran, replies, seen] = [[], [], []] as [number[], string[], string[]];
    const { d } = delivery('id-3');
    await processSafely(d, deps(new RevokedSet(), ran, replies, seen));
    expect(ran).to.deep.equal([1]);
    expect(replies).to.deep.equal(['SUCCESS 2']);
    expect(seen).to.deep.equal(['begin id-3', 'end id-3']);
  });
});
