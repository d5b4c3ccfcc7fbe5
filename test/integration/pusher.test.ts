import type { S3Client } from '@aws-sdk/client-s3';
import { connectClient, ContractValidationError, createWorker, type TaskClient, type Worker } from '@taskbus/runtime';
import { createPusherHandlers } from '@taskbus-example/pusher';
import { expect } from 'chai';
import { bindPusherHandlers, createPusherClient, type PusherClient, type PusherHandlers } from 'pusher-bindings';
import { startLocalS3, type LocalS3 } from '../../scripts/local-s3.js';
import { rawBroker, recordingLogger, uniqueQueue, waitFor } from '../support/broker.js';
import { clientFor, readObject } from '../support/s3.js';

const EMBED = { callbacks: null, errbacks: null, chain: null, chord: null };

describe('pusher end to end: generated bindings -> RabbitMQ -> TypeScript worker -> S3', () => {
  const queue = uniqueQueue('pusher-it');
  const log = recordingLogger();
  const handled: string[] = [];
  const done = new Set<string>();
  let localS3: LocalS3;
  let s3: S3Client;
  let worker: Worker;
  let client: TaskClient;
  let pusher: PusherClient;
  let raw: Awaited<ReturnType<typeof rawBroker>>;

  before(async () => {
    localS3 = await startLocalS3(['backups']);
    s3 = clientFor(localS3);
    const impl = createPusherHandlers(s3, 'backups');
    // Count what reaches the implementation, to prove refused deliveries never do.
    const count = async <R>(key: string, run: () => R | Promise<R>): Promise<R> => {
      handled.push(key);
      const result = await run();
      done.add(key);
      return result;
    };
    const counted: PusherHandlers = {
      sendToS3: (key, content, ctx) => count(key, () => impl.sendToS3(key, content, ctx)),
      sendToS3V2: (key, content, meta, ctx) => count(key, () => impl.sendToS3V2(key, content, meta, ctx)),
    };
    worker = createWorker({ queues: [queue], prefetch: 4, logger: log });
    bindPusherHandlers(worker, counted);
    await worker.start();
    client = await connectClient();
    pusher = createPusherClient(client);
    raw = await rawBroker();
  });

  /** The object once the handler finished writing it (a read during the write may see it partial). */
  async function backedUp(key: string) {
    await waitFor(`the handler for ${key} to finish`, () => (done.has(key) ? true : undefined));
    return readObject(s3, 'backups', key);
  }

  after(async () => {
    await worker?.stop();
    await client?.close();
    await raw?.channel.deleteQueue(queue);
    await raw?.channel.deleteQueue(`${queue}.dlq`);
    await raw?.channel.deleteExchange(queue);
    await raw?.close();
    s3?.destroy();
    await localS3?.close();
  });

  it('v1 call ends as the object with the right body', async () => {
    const sent = await pusher.sendToS3('it/v1.json', '{"v":1}', { queue });
    expect(sent).to.include({ task: 'pusher.send_to_s3', queue });
    const obj = await backedUp('it/v1.json');
    expect(obj.body).to.equal('{"v":1}');
    expect(obj.contentType).to.match(/^text\/plain/);
  });

  it('v2 call through the delegate ends as the object with its content type', async () => {
    await pusher.delegateSendToS3(2, 'it/v2.json', '{"v":2}', { contentType: 'application/json', tags: { service: 'it' } }, { queue });
    const obj = await backedUp('it/v2.json');
    expect(obj.body).to.equal('{"v":2}');
    expect(obj.contentType).to.equal('application/json');
    expect(obj.etag).to.be.a('string').and.not.equal('');
  });

  it('a bad call is refused before sending: the error lists the violations and the queue stays empty', async () => {
    const idle = uniqueQueue('pusher-idle');
    await raw.channel.assertQueue(idle, { durable: true });
    try {
      const bad = pusher.sendToS3V2('', 'c', { tags: { a: 1 } } as never, { queue: idle });
      const err = await bad.then(() => null, (e: unknown) => e);
      expect(err).to.be.instanceOf(ContractValidationError);
      const paths = (err as ContractValidationError).issues.map((i) => i.path);
      expect(paths).to.include.members(['key', 'meta.tags.a']);
      expect((err as Error).message).to.match(/nothing was sent/);
      expect((await raw.channel.checkQueue(idle)).messageCount).to.equal(0);
      // The same queue does count a valid call, so the zero above means something.
      await pusher.sendToS3('k', 'c', { queue: idle });
      expect((await raw.channel.checkQueue(idle)).messageCount).to.equal(1);
    } finally {
      await raw.channel.deleteQueue(idle);
      await raw.channel.deleteExchange(idle);
    }
  });

  it('runs a Celery protocol v2 message published by another client (plain amqplib, Python-style JSON)', async () => {
    const body = `[["it/raw.json", "from outside"], {}, ${JSON.stringify(EMBED).replace(/,/g, ', ')}]`;
    raw.channel.sendToQueue(queue, Buffer.from(body), {
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      correlationId: 'raw-1',
      replyTo: 'nobody',
      deliveryMode: 2,
      headers: { lang: 'py', task: 'pusher.send_to_s3', id: 'raw-1', retries: 0, timelimit: [null, null], root_id: 'raw-1', parent_id: null },
    });
    expect((await backedUp('it/raw.json')).body).to.equal('from outside');
  });

  it('an undecodable or unrunnable delivery goes to the dead-letter queue with its reason, and the next task still runs', async () => {
    const send = (content: string, headers: Record<string, unknown>, contentType = 'application/json') =>
      raw.channel.sendToQueue(queue, Buffer.from(content), { contentType, headers, deliveryMode: 2 });
    send('[["it/never-1.json", "x"], {', { task: 'pusher.send_to_s3', id: 'bad-json' });
    send('\x80\x04\x95', { task: 'pusher.send_to_s3', id: 'bad-pickle' }, 'application/x-python-serialize');
    send('[["it/never-2.json", "x"], {}, {}]', { task: 'pusher.nope', id: 'bad-task' });
    send('[["it/never-3.json"], {}, {}]', { task: 'pusher.send_to_s3', id: 'bad-arity' });
    await pusher.sendToS3('it/after-bad.json', 'still running', { queue });
    expect((await backedUp('it/after-bad.json')).body).to.equal('still running');
    const dead = await waitFor('four dead letters', async () => ((await raw.channel.checkQueue(`${queue}.dlq`)).messageCount >= 4 ? true : undefined));
    expect(dead).to.equal(true);
    const found: string[] = [];
    for (let m = await raw.channel.get(`${queue}.dlq`, { noAck: true }); m; m = await raw.channel.get(`${queue}.dlq`, { noAck: true })) {
      found.push(`${String(m.properties.headers?.['id'])}:${String(m.properties.headers?.['x-taskbus-reason'])}`);
      if (m.properties.headers?.['id'] === 'bad-json') expect(m.content.toString()).to.equal('[["it/never-1.json", "x"], {');
    }
    expect(found.sort()).to.deep.equal(['bad-arity:invalid-arguments', 'bad-json:undecodable', 'bad-pickle:unsupported-content-type', 'bad-task:unknown-task']);
    expect(log.records.filter((r) => r.message === 'delivery dead-lettered')).to.have.length(4);
    expect(handled.filter((k) => k.startsWith('it/never'))).to.deep.equal([]);
  });
});
