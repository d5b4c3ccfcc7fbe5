import { expect } from 'chai';
import { bindPusherHandlers, sendToS3V1Task, sendToS3V2Task } from 'pusher-bindings';
import { serviceABackup } from '../../services/service-a/src/backup.js';
import { itemServiceOnBus } from '../support/item-service.js';

// Service A's own tests, without a broker: its HTTP API over the in-memory bus of @taskbus/runtime/testing.

describe('service-a on the test harness', () => {
  const on = itemServiceOnBus('service-a', serviceABackup);
  const put = on.put;

  it('saving an item sends pusher sendToS3 v1 once, with its key and the item as JSON', async () => {
    const res = await put('a1', { n: 1 });
    expect(res.status).to.equal(201);
    const { taskId } = (await res.json()) as { taskId: string };
    const saved = await (await fetch(on.url('a1'))).json();
    on.bus.expectSent(sendToS3V1Task, { times: 1, args: ['service-a/items/a1.json', JSON.stringify(saved)] });
    expect(on.bus.sent(sendToS3V1Task).map((c) => c.id)).to.deep.equal([taskId]);
    on.bus.expectSent(sendToS3V2Task, { times: 0 });
  });

  it('answers before the backup runs: with no pusher worker the task waits in the pusher queue', async () => {
    await put('a2', { n: 2 });
    await on.bus.runUntilIdle();
    expect(on.bus.queued('pusher').map((t) => [t.task, t.args?.[0]])).to.deep.equal([['pusher.send_to_s3', 'service-a/items/a2.json']]);
  });

  it('the backup reaches a pusher worker in process, which receives the item', async () => {
    const stored = new Map<string, string>();
    const pusher = on.bus.worker();
    bindPusherHandlers(pusher, {
      sendToS3: (key, content) => (stored.set(key, content), { bucket: 'b', key, etag: 'e' }),
      sendToS3V2: () => {
        throw new Error('service-a does not call v2');
      },
    });
    await pusher.start();
    await put('a3', { hello: 'world' });
    await on.bus.runUntilIdle();
    expect(JSON.parse(stored.get('service-a/items/a3.json')!)).to.include({ id: 'a3', service: 'service-a' }).and.deep.include({ body: { hello: 'world' } });
    expect(on.bus.outcomes().map((o) => o.status)).to.deep.equal(['SUCCESS']);
  });

  it('a body that is not JSON is refused and nothing is sent', async () => {
    const res = await fetch(on.url('a4'), { method: 'PUT', body: '{nope' });
    expect(res.status).to.equal(400);
    expect(on.bus.sent()).to.deep.equal([]);
  });
});
