import { Type } from '@sinclair/typebox';
import { createWorker, defineTask, type Worker } from '@taskbus/runtime';
import { expect } from 'chai';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rawBroker, recordingLogger, scratchVhost, uniqueQueue, waitFor } from '../support/broker.js';
import { celeryVersions, startCeleryWorker } from '../support/python.js';

const celery56 = celeryVersions.find((v) => v.quorum)!;

describe(`a ${celery56.name} fleet's quorum queue deleted under a TypeScript worker`, function () {
  this.timeout(120_000);
  let vhost: ReturnType<typeof scratchVhost>;
  let worker: Worker | undefined;
  before(() => (vhost = scratchVhost('quorum-redeclare')));
  after(async () => {
    await worker?.stop();
    vhost.remove();
  });

  it("comes back as Celery declared it: the fleet's next start is not refused (406)", async () => {
    const queue = uniqueQueue('redeclare');
    const out = mkdtempSync(join(tmpdir(), 'taskbus-redeclare-'));
    const celery = { celery: celery56, queueType: 'quorum', amqpUrl: vhost.url } as const;
    await (await startCeleryWorker(queue, out, celery)).stop(); // declares it: x-queue-type quorum only, topic exchange
    const log = recordingLogger();
    worker = createWorker({ url: vhost.url, logger: log, queueType: 'quorum', reconnect: { initialMs: 50, maxMs: 500 } });
    worker.register(defineTask({ name: 'redeclare.echo', queue, queueType: 'quorum', args: { n: Type.Number() }, result: Type.Number() }), ([n]) => n);
    await worker.start();
    const raw = await rawBroker(vhost.url);
    await raw.channel.deleteQueue(queue);
    await raw.close();
    await waitFor('the TypeScript worker re-subscribed', () => (log.records.some((r) => r.message === 'consumer re-subscribed') ? true : undefined));
    const again = await startCeleryWorker(queue, out, celery).then(
      (w) => w,
      (e: unknown) => String(e).split('\n').find((l) => /406|PRECONDITION/.test(l)) ?? String(e).slice(-500),
    );
    if (typeof again === 'string') expect.fail(`the Celery worker could not start: ${again}`);
    await again.stop();
  });
});
