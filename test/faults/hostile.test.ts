import { Type } from '@sinclair/typebox';
import { connectClient, createWorker, defineTask, silentLogger, type TaskClient, type Worker } from '@taskbus/runtime';
import { expect } from 'chai';
import { deleteQueues, rawBroker, uniqueQueue, waitFor } from '../support/broker.js';
import { naiveMerge, pollutes, protoKeys } from '../support/pollution.js';
import { report, size } from './harness.js';

const EMBED = '{"callbacks": null, "errbacks": null, "chain": null, "chord": null}';

describe('faults 6-7: poison tasks and hostile input', function () {
  this.timeout(300_000);
  const queue = uniqueQueue('fault-hostile');
  const handled: string[] = [];
  /** What a handler was given that a later merge could turn into prototype pollution. */
  const unsafe: string[] = [];
  const spec = defineTask<[key: string, n: number], Record<string, never>, null>({
    name: 'hostile.job',
    queue,
    args: { key: Type.String(), n: Type.Integer() },
    result: Type.Null(),
    retry: { maxAttempts: 3, initialDelayMs: 50 },
  });
  let worker: Worker;
  let client: TaskClient;
  let raw: Awaited<ReturnType<typeof rawBroker>>;

  before(async () => {
    worker = createWorker({ logger: silentLogger, prefetch: 50, maxPayloadBytes: 64 * 1024 });
    worker.register(spec, (args, kwargs, ctx) => {
      if (protoKeys([args, kwargs]).length > 0 || pollutes('polluted', () => naiveMerge({}, [args, kwargs]))) unsafe.push(ctx.id);
      if (args[0] === 'poison') throw new Error('always fails');
      handled.push(ctx.id);
      return null;
    });
    await worker.start();
    client = await connectClient({ logger: silentLogger });
    raw = await rawBroker();
  });
  after(async () => {
    await worker.stop();
    await client.close();
    for (const d of [50, 100]) await raw.channel.deleteQueue(`${queue}.retry.${d}`);
    await raw.close();
    await deleteQueues(queue);
  });

  async function drainDlq(expected: number): Promise<Map<string, number>> {
    await waitFor(`${expected} dead letters`, async () => ((await raw.channel.checkQueue(`${queue}.dlq`)).messageCount >= expected ? true : undefined), 120_000);
    const reasons = new Map<string, number>();
    for (let m = await raw.channel.get(`${queue}.dlq`, { noAck: true }); m; m = await raw.channel.get(`${queue}.dlq`, { noAck: true })) {
      const r = String(m.properties.headers?.['x-taskbus-reason']);
      reasons.set(r, (reasons.get(r) ?? 0) + 1);
    }
    return reasons;
  }

  it('6: poison tasks end in the dead-letter queue after the configured attempts; the others all run', async () => {
    const n = size(1000, 5000);
    const poison = 10;
    handled.length = 0;
    const sent = await Promise.all([
      ...Array.from({ length: n }, (_, i) => client.send(spec, [`ok-${i}`, i], {})),
      ...Array.from({ length: poison }, (_, i) => client.send(spec, ['poison', i], {})),
    ]);
    const healthy = sent.slice(0, n).map((s) => s.id);
    await waitFor('the healthy tasks', () => (new Set(handled).size >= n ? true : undefined), 120_000);
    const reasons = await drainDlq(poison);
    const unique = new Set(handled);
    report({ name: 'poison task', n: n + poison, confirmed: sent.length, lost: healthy.filter((id) => !unique.has(id)).length, dup: handled.length - unique.size });
    expect(reasons).to.deep.equal(new Map([['failed', poison]]));
    expect(healthy.every((id) => unique.has(id))).to.equal(true);
  });

  it('7: hostile deliveries, 100 of each kind, are all dead-lettered with a reason; no handler sees them; valid tasks keep flowing', async () => {
    const each = size(100, 1000);
    handled.length = 0;
    const ct = 'application/json';
    const valid = (id: string, i: number) => ({ body: `[["valid", ${i}], {}, ${EMBED}]`, ct, headers: { task: 'hostile.job', id } });
    const kinds: [string, (i: number) => { body: string | Buffer; ct: string; headers: Record<string, unknown> }][] = [
      ['truncated JSON', (i) => ({ body: '[["k", 1], {', ct, headers: { task: 'hostile.job', id: `bad-${i}` } })],
      ['empty body', (i) => ({ body: '', ct, headers: { task: 'hostile.job', id: `bad-${i}` } })],
      ['invalid UTF-8', (i) => ({ body: Buffer.from([0x5b, 0xc3, 0x28, 0x5d]), ct, headers: { task: 'hostile.job', id: `bad-${i}` } })],
      ['pickle', (i) => ({ body: Buffer.from([0x80, 0x04, 0x95, 0x00]), ct: 'application/x-python-serialize', headers: { task: 'hostile.job', id: `bad-${i}` } })],
      ['yaml', (i) => ({ body: '- [k, 1]\n- {}\n', ct: 'application/x-yaml', headers: { task: 'hostile.job', id: `bad-${i}` } })],
      ['missing task header', (i) => ({ body: `[["k", 1], {}, ${EMBED}]`, ct, headers: { id: `bad-${i}` } })],
      ['unknown task', (i) => ({ body: `[["k", 1], {}, ${EMBED}]`, ct, headers: { task: 'hostile.nope', id: `bad-${i}` } })],
      ['wrong arity', (i) => ({ body: `[["k"], {}, ${EMBED}]`, ct, headers: { task: 'hostile.job', id: `bad-${i}` } })],
      ['schema-invalid args', (i) => ({ body: `[[1, "k"], {}, ${EMBED}]`, ct, headers: { task: 'hostile.job', id: `bad-${i}` } })],
      ['prototype pollution', (i) => ({ body: `[["k", 1], {"__proto__": {"polluted": true}}, ${EMBED}]`, ct, headers: { task: 'hostile.job', id: `bad-${i}` } })],
      ['oversized body', (i) => ({ body: `[["${'x'.repeat(100 * 1024)}", 1], {}, ${EMBED}]`, ct, headers: { task: 'hostile.job', id: `bad-${i}` } })],
    ];
    let sentValid = 0;
    for (let i = 0; i < each; i++) {
      for (const [, make] of kinds) {
        const m = make(i);
        raw.channel.sendToQueue(queue, Buffer.isBuffer(m.body) ? m.body : Buffer.from(m.body), { contentType: m.ct, contentEncoding: 'utf-8', headers: m.headers, deliveryMode: 2 });
      }
      const v = valid(`valid-${i}`, i);
      raw.channel.sendToQueue(queue, Buffer.from(v.body), { contentType: v.ct, contentEncoding: 'utf-8', headers: v.headers, deliveryMode: 2 });
      sentValid++;
    }
    const reasons = await drainDlq(each * kinds.length);
    await waitFor('the valid tasks', () => (handled.length >= sentValid ? true : undefined), 60_000);
    report({ name: `hostile input (${kinds.length} kinds x ${each})`, n: each * kinds.length + sentValid, confirmed: sentValid, lost: sentValid - new Set(handled).size, dup: handled.length - new Set(handled).size });
    expect(Object.fromEntries(reasons)).to.deep.equal({
      undecodable: 3 * each,
      'unsupported-content-type': 2 * each,
      'missing-header': each,
      'unknown-task': each,
      'invalid-arguments': 2 * each,
      'forbidden-key': each,
      oversized: each,
    });
    expect(handled.every((id) => id.startsWith('valid-'))).to.equal(true);
    expect(new Set(handled).size).to.equal(sentValid);
    expect(unsafe).to.deep.equal([]);
  });
});
