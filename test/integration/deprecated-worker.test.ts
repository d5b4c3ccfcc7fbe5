import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { connectClient, createWorker, defineTask, type TaskClient } from '@taskbus/runtime';
import { expect } from 'chai';
import { encodeTask } from '../../runtime/src/celery/encode.js';
import { deleteQueues, rawBroker, recordingLogger, uniqueQueue, waitFor } from '../support/broker.js';

describe('worker: a deprecated task version is logged once per calling origin', () => {
  const queue = uniqueQueue('deprecated');
  const spec = defineTask<[n: number], Record<string, never>, number>({
    name: 'deprecated.double',
    queue,
    args: { n: Type.Integer() },
    result: Type.Integer(),
    deprecated: 'use deprecated.double_v2',
  });
  let client: TaskClient;

  before(async () => (client = await connectClient()));
  after(async () => {
    await client.close();
    await deleteQueues(queue);
  });

  it('two calls from one origin and one from another give two log lines', async () => {
    const log = recordingLogger();
    const worker = createWorker({ logger: log });
    const handled: number[] = [];
    worker.register(spec, ([n]) => {
      handled.push(n);
      return n * 2;
    });
    await worker.start();
    let firstId = '';
    const otherId = randomUUID();
    try {
      // This process's client is one origin; a Celery caller elsewhere is another (same wire format, own origin).
      const first = await client.send(spec, [1], {});
      firstId = first.id;
      await first.result({ timeoutMs: 10_000 });
      await (await client.send(spec, [2], {})).result({ timeoutMs: 10_000 });
      const raw = await rawBroker();
      const other = encodeTask({ id: otherId, task: spec.name, args: [3], kwargs: {}, replyTo: 'none', origin: 'gen4242@elsewhere', options: { ignoreResult: true } });
      const confirm = await raw.connection.createConfirmChannel();
      confirm.sendToQueue(queue, other.content, other.properties);
      await confirm.waitForConfirms();
      await raw.close();
      await waitFor('three handled calls', () => (handled.length === 3 ? true : undefined));
    } finally {
      await worker.stop();
    }
    const lines = log.records.filter((r) => r.message === 'deprecated task version called');
    expect(lines.map((r) => ({ level: r.level, ...r.fields }))).to.deep.equal([
      // Each line names the call that was logged: the first from each origin.
      { level: 'warn', task: 'deprecated.double', id: firstId, origin: lines[0]?.fields['origin'], note: 'use deprecated.double_v2' },
      { level: 'warn', task: 'deprecated.double', id: otherId, origin: 'gen4242@elsewhere', note: 'use deprecated.double_v2' },
    ]);
    expect(lines[0]!.fields['origin']).to.match(new RegExp(`^gen${process.pid}@`));
  });
});
