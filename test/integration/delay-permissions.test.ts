import { Type } from '@sinclair/typebox';
import { connectClient, createWorker, defineTask, type TaskClient, type Worker } from '@taskbus/runtime';
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { rawBroker, recordingLogger, scratchVhost, uniqueQueue } from '../support/broker.js';

const echo = (queue: string) =>
  defineTask<[n: number], Record<string, never>, number>({ name: 'topo.perm', queue, queueType: 'quorum', args: { n: Type.Number() }, result: Type.Number() });

describe('a user who may not touch the delay levels', function () {
  this.timeout(90_000);
  const ctl = (...args: string[]) => execFileSync('rabbitmqctl', args, { encoding: 'utf8', timeout: 60_000 });
  let vhost: ReturnType<typeof scratchVhost>;
  const user = uniqueQueue('topo-user');
  const started: (Worker | TaskClient)[] = [];
  before(() => {
    vhost = scratchVhost('topo-perm');
    ctl('add_user', user, 'pw-topo-secret');
  });
  after(async () => {
    for (const s of started.splice(0)) await ('stop' in s ? s.stop() : s.close());
    ctl('delete_user', user);
    vhost.remove();
  });

  it('countdowns to its quorum queue still run (sent with their eta), nothing loops, no password in the logs', async () => {
    const queue = uniqueQueue('topo-permq');
    const raw = await rawBroker(vhost.url);
    await raw.channel.assertExchange('celery_delayed_27', 'topic', { durable: true }); // a fleet's levels exist
    await raw.close();
    const vh = decodeURIComponent(new URL(vhost.url).pathname.slice(1));
    ctl('set_permissions', '-p', vh, user, '^(?!celery_delayed).*', '^(?!celery_delayed).*', '^(?!celery_delayed).*');
    const url = new URL(vhost.url);
    url.username = user;
    url.password = 'pw-topo-secret';
    const wlog = recordingLogger();
    const clog = recordingLogger();
    const worker = createWorker({ url: url.toString(), logger: wlog, queueType: 'quorum' });
    worker.register(echo(queue), ([n]) => n);
    await worker.start();
    started.push(worker);
    const c = await connectClient({ url: url.toString(), logger: clog });
    started.push(c);
    const sent = await Promise.all([1, 2, 3].map((n) => c.send(echo(queue), [n], {}, { countdown: 1 })));
    expect(await Promise.all(sent.map((s) => s.result({ timeoutMs: 15_000 })))).to.deep.equal([1, 2, 3]);
    const all = JSON.stringify([...wlog.records, ...clog.records]);
    expect(all).not.to.include('pw-topo-secret');
    expect(wlog.records.length + clog.records.length, all).to.be.below(30);
  });
});
