import { Type } from '@sinclair/typebox';
import { connectClient, createWorker, defineTask, TaskbusError, type QueueType, type TaskClient, type Worker } from '@taskbus/runtime';
import { expect } from 'chai';
import { deleteQueues, rawBroker, recordingLogger, uniqueQueue } from '../support/broker.js';

const echo = (queue: string, queueType: QueueType) =>
  defineTask<[n: number], Record<string, never>, number>({ name: 'topo.race', queue, queueType, args: { n: Type.Number() }, result: Type.Number() });

const outcome = (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (e instanceof TaskbusError ? `${e.code}: ${e.message}` : `untyped: ${String(e)}`));

describe('declarers racing on a missing queue', function () {
  this.timeout(120_000);
  const cleanup: string[] = [];
  const started: (Worker | TaskClient)[] = [];
  afterEach(async () => {
    for (const s of started.splice(0)) await ('stop' in s ? s.stop() : s.close());
  });
  after(() => deleteQueues(...cleanup));

  it('clients and workers of both queue types declaring at once all succeed, and the tasks run', async () => {
    for (let round = 0; round < 5; round++) {
      const queue = uniqueQueue('topo-race');
      cleanup.push(queue);
      const types: QueueType[] = ['classic', 'quorum'];
      const clients = await Promise.all(Array.from({ length: 6 }, () => connectClient({ logger: recordingLogger() })));
      started.push(...clients);
      const workers = types.map((t) => {
        const w = createWorker({ logger: recordingLogger(), queueType: t });
        w.register(echo(queue, t), ([n]) => n);
        started.push(w);
        return w;
      });
      const results = await Promise.all([
        ...workers.map((w) => outcome(w.start())),
        ...clients.map((c, i) => outcome(c.send(echo(queue, types[i % 2]!), [i], {}, i % 3 === 0 ? { countdown: 1 } : {}).then((s) => s.result({ timeoutMs: 20_000 })))),
      ]);
      expect(results, `round ${round}`).to.deep.equal(results.map(() => 'ok'));
    }
  });

  it('a queue deleted while many clients learn it at once: every send succeeds', async () => {
    const raw = await rawBroker();
    try {
      for (let round = 0; round < 5; round++) {
        const queue = uniqueQueue('topo-race-del');
        cleanup.push(queue);
        await raw.channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
        await raw.channel.assertExchange(queue, 'topic', { durable: true });
        const clients = await Promise.all(Array.from({ length: 6 }, () => connectClient({ logger: recordingLogger() })));
        started.push(...clients);
        const sends = clients.map((c, i) => outcome(c.send(echo(queue, 'quorum'), [i], {}, { ignoreResult: true })));
        await new Promise((r) => setTimeout(r, round * 3));
        await raw.channel.deleteQueue(queue);
        await raw.channel.deleteExchange(queue);
        expect(await Promise.all(sends), `round ${round}`).to.deep.equal(sends.map(() => 'ok'));
      }
    } finally {
      await raw.close();
    }
  });
});
