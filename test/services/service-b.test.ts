import { expect } from 'chai';
import { bindPusherHandlers, sendToS3V1Task, sendToS3V2Task } from 'pusher-bindings';
import { serviceBBackup } from '../../services/service-b/src/backup.js';
import { itemServiceOnBus } from '../support/item-service.js';

// Service B's own tests, without a broker: its HTTP API over the in-memory bus of @taskbus/runtime/testing.

describe('service-b on the test harness', () => {
  const on = itemServiceOnBus('service-b', serviceBBackup);
  const put = on.put;

  it('saving an item sends pusher sendToS3 v2 once, with a JSON content type and its tags', async () => {
    expect((await put('b1', [1, 2])).status).to.equal(201);
    const saved = await (await fetch(on.url('b1'))).json();
    on.bus.expectSent(sendToS3V2Task, {
      times: 1,
      args: ['service-b/items/b1.json', JSON.stringify(saved), { contentType: 'application/json', tags: { service: 'service-b', item: 'b1' } }],
    });
    on.bus.expectSent(sendToS3V1Task, { times: 0 });
  });

  it('a pusher failing for good: retried as the contract says on the clock, then dead-lettered as failed', async () => {
    const pusher = on.bus.worker();
    bindPusherHandlers(pusher, {
      sendToS3: () => {
        throw new Error('service-b does not call v1');
      },
      sendToS3V2: () => {
        throw new Error('S3 is down');
      },
    });
    await pusher.start();
    await put('b2', {});
    const [call] = on.bus.sent(sendToS3V2Task);
    // The contract: 5 attempts, 1 s doubling.
    await on.bus.clock.advance(1000 + 2000 + 4000 + 8000);
    expect(on.bus.attempts(call!.id)).to.equal(5);
    expect(on.bus.deadLetters('pusher').map((d) => [d.id, d.reason, d.error])).to.deep.equal([[call!.id, 'failed', 'Error: S3 is down (after 5 attempts)']]);
    const [outcome] = on.bus.outcomes();
    expect(outcome).to.include({ id: call!.id, status: 'FAILURE' });
  });
});
