import { Type } from '@sinclair/typebox';
import { connectClient, createWorker, defineTask, PublishError, RemoteTaskError, silentLogger, type TaskClient, type Worker } from '@taskbus/runtime';
import { expect } from 'chai';
import { deleteQueues, recordingLogger, uniqueQueue, waitFor } from '../support/broker.js';
import { rabbitmqctl } from '../faults/harness.js';

const LIMIT = 1024 * 1024;
const setLimit = (bytes: number | string): string => rabbitmqctl('eval', `application:set_env(rabbit, max_message_size, ${bytes}).`);

/**
 * A body under maxPayloadBytes (16 MiB) but over the broker's max_message_size: RabbitMQ closes the publish
 * channel for it. Re-sent with the others on the new channel, it closed that one too, and every publish of
 * the client waited for its confirm timeout.
 */
describe("a message over the broker's max_message_size", function () {
  this.timeout(60_000);
  const queue = uniqueQueue('message-size');
  const spec = defineTask<[label: string], Record<string, never>, null>({ name: 'size.job', queue, args: { label: Type.String() }, result: Type.Null() });
  const echo = defineTask<[bytes: number], Record<string, never>, string>({ name: 'size.echo', queue, args: { bytes: Type.Integer() }, result: Type.String() });
  let previous: string;
  let client: TaskClient;
  let worker: Worker;
  const log = recordingLogger();
  const handled = new Set<string>();

  before(async () => {
    previous = rabbitmqctl('eval', '{ok, V} = application:get_env(rabbit, max_message_size), V.').trim();
    setLimit(LIMIT); // read by each channel as it opens
    worker = createWorker({ logger: silentLogger, queues: [queue] });
    worker.register(spec, async ([label]) => {
      handled.add(label);
      return null;
    });
    worker.register(echo, async ([bytes]) => 'z'.repeat(bytes));
    await worker.start();
    client = await connectClient({ logger: log, confirmTimeoutMs: 20_000 });
  });

  after(async () => {
    setLimit(previous);
    await client?.close();
    await worker?.stop();
    await deleteQueues(queue);
  });

  it('is refused with a PublishError naming the limit; the publishes around it are confirmed and run', async () => {
    const outcome = (p: Promise<unknown>) => p.then(() => 'confirmed', (e: unknown) => e);
    const around = (prefix: string) => Array.from({ length: 20 }, (_, i) => outcome(client.send(spec, [`${prefix}${i}`], {}, { ignoreResult: true })));
    const first = around('before-');
    const big = outcome(client.send(spec, ['x'.repeat(2 * LIMIT)], {}, { ignoreResult: true }));
    const then = around('after-');
    const refused = await big;
    expect(refused).to.be.instanceOf(PublishError);
    expect((refused as PublishError).message).to.include(`max_message_size of ${LIMIT} bytes`).and.include('maxPayloadBytes');
    expect(await Promise.all([...first, ...then])).to.deep.equal(Array(40).fill('confirmed'));
    await waitFor('the 40 small tasks to run', () => (handled.size === 40 ? true : undefined));
  });

  it('once the limit is known, a later one is refused before it is sent: the channel is not closed again', async () => {
    const closes = () => log.records.filter((r) => r.message === 'client publish channel closed by the broker').length;
    const seen = closes();
    expect(seen).to.equal(1);
    const refused = await client.send(spec, ['y'.repeat(LIMIT + 1)], {}, { ignoreResult: true }).then(() => null, (e: unknown) => e);
    expect(refused).to.be.instanceOf(PublishError);
    await client.send(spec, ['small'], {}, { ignoreResult: true });
    await waitFor('the small task to run', () => (handled.has('small') ? true : undefined));
    expect(closes()).to.equal(seen);
  });
  it("a result over it: lost the first time (the broker closes the worker's channel), then EncodeError for its caller", async () => {
    const first = await (await client.send(echo, [2 * LIMIT], {})).result({ timeoutMs: 3000 }).then(() => null, (e: unknown) => e);
    expect(first).to.have.property('code', 'E_RESULT_TIMEOUT');
    const second = await (await client.send(echo, [2 * LIMIT], {})).result({ timeoutMs: 10_000 }).then(() => null, (e: unknown) => e);
    expect(second).to.be.instanceOf(RemoteTaskError);
    expect((second as RemoteTaskError).message).to.include('EncodeError').and.include("over the broker's max_message_size");
    expect(await (await client.send(echo, [3], {})).result({ timeoutMs: 10_000 })).to.equal('zzz');
  });
});
