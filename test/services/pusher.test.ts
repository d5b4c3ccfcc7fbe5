import type { S3Client } from '@aws-sdk/client-s3';
import { createPusherHandlers } from '@taskbus-example/pusher';
import { RemoteTaskError } from '@taskbus/runtime';
import { createTestBus, type TestBus } from '@taskbus/runtime/testing';
import { expect } from 'chai';
import { bindPusherHandlers, createPusherClient, sendToS3V2Task, type PusherClient } from 'pusher-bindings';
import { startLocalS3, type LocalS3 } from '../../scripts/local-s3.js';
import { clientFor, readObject } from '../support/s3.js';

// Pusher's own tests without a broker: its real handlers, bound through the generated bindings to a harness
// worker, writing to a local S3 server (s3rver on a free port).

describe('pusher on the test harness, writing to a local S3', () => {
  let localS3: LocalS3;
  let s3: S3Client;
  let bus: TestBus;
  let pusher: PusherClient;

  before(async () => {
    localS3 = await startLocalS3(['backups']);
    s3 = clientFor(localS3);
  });

  after(async () => {
    s3?.destroy();
    await localS3?.close();
  });

  beforeEach(async () => {
    bus = createTestBus();
    pusher = createPusherClient(bus.client);
  });

  afterEach(() => bus.close());

  async function startPusher(bucket: string): Promise<void> {
    const worker = bus.worker();
    bindPusherHandlers(worker, createPusherHandlers(s3, bucket));
    await worker.start();
  }

  it('v1 writes the object and answers where it is', async () => {
    await startPusher('backups');
    const sent = await pusher.sendToS3('harness/v1.json', '{"v":1}');
    const stored = await sent.result();
    expect(stored).to.include({ bucket: 'backups', key: 'harness/v1.json' });
    expect(stored.etag).to.be.a('string').and.not.equal('');
    const obj = await readObject(s3, 'backups', 'harness/v1.json');
    expect(obj.body).to.equal('{"v":1}');
    expect(obj.contentType).to.match(/^text\/plain/);
  });

  it('v2 writes the object with its content type', async () => {
    await startPusher('backups');
    const meta = { contentType: 'application/json', tags: { service: 'harness' } };
    const sent = await pusher.delegateSendToS3(2, 'harness/v2.json', '{"v":2}', meta);
    expect(await sent.result()).to.include({ key: 'harness/v2.json' });
    bus.expectSent(sendToS3V2Task, { times: 1, args: ['harness/v2.json', '{"v":2}', meta] });
    const [call] = bus.sent(sendToS3V2Task);
    const key: string = call!.args[0]; // typed by the contract: typecheck fails if sent() loses the types
    expect(key).to.equal('harness/v2.json');
    expect((await readObject(s3, 'backups', 'harness/v2.json')).contentType).to.equal('application/json');
  });

  it('a missing bucket fails each of the 5 attempts the contract allows, then the caller gets the S3 error', async () => {
    await startPusher('no-such-bucket');
    const sent = await pusher.sendToS3('harness/lost.json', 'x');
    const outcome = sent.result().then(
      () => null,
      (e: unknown) => e,
    );
    await bus.clock.advance(15_000);
    const e = await outcome;
    expect(e).to.be.instanceOf(RemoteTaskError);
    expect((e as RemoteTaskError).excType).to.equal('NoSuchBucket');
    expect(bus.attempts(sent.id)).to.equal(5);
    expect(bus.deadLetters('pusher').map((d) => d.reason)).to.deep.equal(['failed']);
  });
});
