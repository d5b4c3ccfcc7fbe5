import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Type } from '@sinclair/typebox';
import { connectClient, createWorker, defineTask, PublishError, silentLogger, TaskbusError, TopologyError } from '@taskbus/runtime';
import type { ConfirmChannel } from 'amqplib';
import { expect } from 'chai';
import { publishEncoded, UnencodableMessageError, type OutgoingMessage } from '../../runtime/src/amqp/publish.js';
import { encodeTask } from '../../runtime/src/celery/encode.js';
import { openConnection } from '../../runtime/src/connection.js';
import { Forwarder } from '../support/forwarder.js';
import { clientScope } from '../support/scope.js';
import { AMQP_URL, deleteQueues, rawBroker, recordingLogger, waitFor } from '../support/broker.js';

const blob = (queue: string, name = 'hostile.blob') => defineTask<[n: number, s: string], Record<string, never>, null>({ name, queue, args: { n: Type.Integer(), s: Type.String() }, result: Type.Null() });

/** How each call settled: 'ok' or the error code. */
function outcome(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (e: unknown) => (e instanceof TaskbusError ? e.code : `untyped: ${String(e)}`),
  );
}

/** The URL of AMQP_URL's vhost through a forwarder on `port`, with query parameters. */
function through(port: number, query = ''): string {
  return AMQP_URL.replace(/:\d+(?=\/|$)/, `:${port}`) + query;
}

function message(queue: string, id: string, options: Parameters<typeof encodeTask>[0]['options'] = {}): OutgoingMessage {
  const t = encodeTask({ id, task: 'hostile.raw', args: [id], kwargs: {}, replyTo: 'r', origin: 'test', options });
  return { exchange: '', routingKey: queue, mandatory: true, properties: t.properties, headers: t.wireHeaders, content: t.content };
}

describe('the publish fast path against what the wire cannot carry, lost connections and a broker that stops reading', () => {
  const { client, queue } = clientScope({ reconnect: { initialMs: 20, maxMs: 200 } });

  it('a call the wire cannot carry rejects at once with a typed error; the connection and the calls after it are unharmed', async function () {
    this.timeout(30_000);
    const log = recordingLogger();
    // A small frame size (RabbitMQ's minimum): headers bigger than one frame would make the broker close the connection.
    const c = await client({ logger: log, url: `${AMQP_URL}?frameMax=4096`, confirmTimeoutMs: 10_000 });
    const spec = blob(queue('hostile-wire'));
    // A quorum queue whose name leaves no room for the 56 bytes of delay bits in a native delayed routing key.
    const longQuorum = defineTask<[n: number, s: string], Record<string, never>, null>({ name: 'hostile.q', queue: queue(`hq-${'x'.repeat(200)}`), queueType: 'quorum', args: { n: Type.Integer(), s: Type.String() }, result: Type.Null() });
    expect(await outcome(c.send(spec, [0, ''], {}, { ignoreResult: true }))).to.equal('ok');
    const t0 = Date.now();
    const attempts: [string, () => Promise<unknown>, string][] = [
      ['a task id of 260 bytes (a correlation id holds 255)', () => c.send(spec, [1, ''], {}, { taskId: 'é'.repeat(130) }), 'E_PUBLISH'],
      ['priority 256', () => c.send(spec, [2, ''], {}, { priority: 256 }), 'E_PUBLISH'],
      ['headers bigger than a 4096-byte frame', () => c.send(blob(spec.queue, 'n'.repeat(5000)), [3, ''], {}, {}), 'E_PUBLISH'],
      ['a queue name of 256 bytes', () => c.send(spec, [4, ''], {}, { queue: 'q'.repeat(256) }), 'E_TOPOLOGY'],
      ['a countdown to that quorum queue (sent with its eta instead)', () => c.send(longQuorum, [5, ''], {}, { countdown: 60, ignoreResult: true }), 'ok'],
    ];
    for (const [what, send, code] of attempts) {
      const before = outcome(c.send(spec, [10, 'before'], {}, { ignoreResult: true }));
      const failed = send().then(() => 'ok', (e: unknown) => e);
      const afterIt = outcome(c.send(spec, [11, 'after'], {}, { ignoreResult: true }));
      const e = await failed;
      expect(e === 'ok' ? 'ok' : (e as TaskbusError).code, what).to.equal(code);
      if (code === 'E_PUBLISH') expect(e, what).to.be.instanceOf(PublishError);
      if (code === 'E_TOPOLOGY') expect(e, what).to.be.instanceOf(TopologyError);
      expect([await before, await afterIt], `the calls around ${what}`).to.deep.equal(['ok', 'ok']);
    }
    expect(Date.now() - t0, 'no call waited for a confirm timeout').to.be.below(5000);
    expect(log.records.filter((r) => /connection (lost|error)/.test(r.message)), 'the connection stayed up').to.deep.equal([]);
  });

  it('amqplib publish (internals differ): calls still go out, also on a connection already patched, and a message it cannot encode shifts no confirm', async () => {
    const q = queue('hostile-fallback');
    const model = await openConnection();
    const raw = await rawBroker();
    try {
      const real: ConfirmChannel = await model.createConfirmChannel();
      await real.assertQueue(q, { durable: true });
      // The fast path patches the connection on its first publish.
      publishEncoded(real, message(q, 'fast-0'), () => undefined);
      await real.waitForConfirms();
      // A channel as an amqplib without pushConfirmCallback would have: only its own publish can send.
      const other = await model.createConfirmChannel();
      const seen: string[] = [];
      const bare = new Proxy(other, {
        get: (target, key) => {
          if (key === 'pushConfirmCallback') return undefined;
          if (key === 'publish') return (...a: Parameters<ConfirmChannel['publish']>) => (seen.push(String(a[1])), target.publish(...a));
          const v = Reflect.get(target, key, target) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
      const confirmed: Record<string, number> = {};
      const cb = (id: string) => (err: unknown) => void (confirmed[id] = (confirmed[id] ?? 0) + (err ? 100 : 1));
      for (let i = 0; i < 20; i++) {
        publishEncoded(bare, message(q, `slow-${i}`), cb(`slow-${i}`));
        if (i === 10) expect(() => publishEncoded(bare, message(q, 'é'.repeat(130)), cb('bad'))).to.throw(UnencodableMessageError);
      }
      await other.waitForConfirms();
      expect(seen, 'amqplib publish used').to.have.length(20);
      expect(confirmed, 'each publish confirmed once, as itself').to.deep.equal(Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`slow-${i}`, 1])));
      const ids: string[] = [];
      for (let m = await raw.channel.get(q, { noAck: true }); m; m = await raw.channel.get(q, { noAck: true })) ids.push(String(m.properties.correlationId));
      expect(ids).to.deep.equal(['fast-0', ...Array.from({ length: 20 }, (_, i) => `slow-${i}`)]);
    } finally {
      await model.close();
      await raw.close();
    }
  });

  it('confirmTimeoutMs: Infinity does not turn the deadline timer into a 1 ms loop while a publish waits', async function () {
    this.timeout(20_000);
    const forwarder = new Forwarder();
    await forwarder.openAnyOf([5891, 5892, 5893]);
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const c = await client({ logger: recordingLogger(), url: through(forwarder.port), confirmTimeoutMs: Infinity });
      const spec = blob(queue('hostile-infinite'));
      await c.send(spec, [0, ''], {}, { ignoreResult: true });
      forwarder.freeze();
      const waiting = outcome(c.send(spec, [1, ''], {}, { ignoreResult: true }));
      const cpu = process.cpuUsage();
      await new Promise((r) => setTimeout(r, 1000));
      const used = process.cpuUsage(cpu);
      expect(warnings.filter((w) => w === 'TimeoutOverflowWarning'), 'timeout overflow warnings').to.deep.equal([]);
      expect((used.user + used.system) / 1000, 'CPU ms while waiting').to.be.below(100);
      forwarder.cut(); // re-sent on the next connection
      expect(await waiting).to.equal('ok');
    } finally {
      process.off('warning', onWarning);
      await forwarder.shut();
    }
  });

  for (const side of ['client', 'worker'] as const) {
    it(`a ${side} whose broker stops reading closes within its limits and its process exits`, async function () {
      this.timeout(45_000);
      const forwarder = new Forwarder();
      await forwarder.openAnyOf([5894, 5895, 5896]);
      const q = queue(`hostile-frozen-${side}`);
      // A separate process: what must end is the process, not only close()'s promise.
      const script = `
        import { Type } from '@sinclair/typebox';
        import { connectClient, createWorker, defineTask } from '@taskbus/runtime';
        const spec = defineTask({ name: 'hostile.frozen', queue: ${JSON.stringify(q)}, args: { n: Type.Integer() }, result: Type.Null() });
        const url = ${JSON.stringify(through(forwarder.port))};
        const quiet = { info() {}, warn() {}, error() {} };
        let close;
        if (${JSON.stringify(side)} === 'client') {
          const c = await connectClient({ url, confirmTimeoutMs: 1000, logger: quiet });
          await c.send(spec, [0], {});
          close = () => c.close();
        } else {
          const w = createWorker({ url, stopTimeoutMs: 1000, logger: quiet });
          w.register(spec, async () => null);
          await w.start();
          close = () => w.stop();
        }
        process.stdout.write('ready\\n');
        await new Promise((r) => process.stdin.once('data', r));
        process.stdin.pause();
        const t0 = Date.now();
        await close();
        process.stdout.write('closed in ' + (Date.now() - t0) + '\\n');
      `;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const exited = once(child, 'exit');
      try {
        for (let t = Date.now(); !out.includes('ready') && child.exitCode === null; ) {
          if (Date.now() - t > 15_000) throw new Error(`child not ready:\n${out}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        forwarder.freeze();
        const t0 = Date.now();
        child.stdin.write('close\n');
        const gone = await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(r, 20_000, false))]);
        expect(gone, `the ${side} process exited:\n${out}`).to.equal(true);
        expect(child.exitCode, out).to.equal(0);
        // The client: its confirm wait (1 s), then 5 s for the closing handshake; the worker: 5 s for the
        // cancel, then 5 s for the closes.
        expect(Date.now() - t0, 'the process ended this long after close()').to.be.below(side === 'client' ? 9000 : 14_000);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
        await forwarder.shut();
      }
    });
  }

  it('held: a connection cut mid-burst of multi-frame bodies (frame size 4096) loses and garbles nothing', async function () {
    this.timeout(60_000);
    const forwarder = new Forwarder();
    await forwarder.openAnyOf([5897, 5898, 5899]);
    const raw = await rawBroker();
    try {
      const c = await client({ logger: recordingLogger(), url: through(forwarder.port, '?frameMax=4096'), confirmTimeoutMs: 20_000, maxBufferedBytes: 256 * 1024 * 1024 });
      const spec = blob(queue('hostile-cut'));
      await c.send(spec, [-1, ''], {}, { ignoreResult: true });
      await raw.channel.purgeQueue(spec.queue);
      // Around the frame boundaries (4088 bytes of body per frame) and well past them; non-ASCII on odd calls.
      const body = (i: number) => (i % 2 ? 'ü' : 'y').repeat(4000 + ((i * 37) % 9000));
      const n = 1500;
      const calls: Promise<string>[] = [];
      for (let i = 0; i < n; i++) {
        calls.push(outcome(c.send(spec, [i, body(i)], {}, { taskId: `cut-${i}`, ignoreResult: true })));
        if (i === 500) setTimeout(() => forwarder.cut(), 2);
        if (i === 1000) setTimeout(() => forwarder.cut(), 2);
      }
      const settled = await Promise.all(calls);
      expect(settled.filter((s) => s !== 'ok')).to.deep.equal([]);
      const stored = new Set<number>();
      let garbled = 0;
      for (let m = await raw.channel.get(spec.queue, { noAck: true }); m; m = await raw.channel.get(spec.queue, { noAck: true })) {
        const [[i, s]] = JSON.parse(m.content.toString()) as [[number, string]];
        if (s !== body(i) || m.properties.correlationId !== `cut-${i}`) garbled++;
        stored.add(i);
      }
      expect(garbled, 'bodies or ids garbled').to.equal(0);
      expect(stored.size, 'confirmed and stored').to.equal(n);
    } finally {
      await raw.close();
      await forwarder.shut();
    }
  });
});

describe('a worker replying to a task id the wire cannot carry', () => {
  it('sends no reply for it, says why, and the copies it publishes later are still matched to their own confirms', async function () {
    this.timeout(30_000);
    const raw = await rawBroker();
    const log = recordingLogger();
    const queue = `hostile-reply-${Date.now()}`;
    const spec = defineTask<[label: string], Record<string, never>, string>({ name: 'hostile.reply', queue, args: { label: Type.String() }, result: Type.String(), retry: { maxAttempts: 1 } });
    const worker = createWorker({ logger: log, stopTimeoutMs: 3000 });
    worker.register(spec, ([label]) => {
      if (label === 'poison') throw new Error('poisoned');
      return label;
    });
    try {
      await worker.start();
      const { queue: replies } = await raw.channel.assertQueue('', { exclusive: true });
      // A caller of another language may use any task id; the correlation id of the reply holds 255 bytes.
      const longId = 'i'.repeat(300);
      const t = encodeTask({ id: longId, task: spec.name, args: ['long id'], kwargs: {}, replyTo: replies, origin: 'test', options: {} });
      raw.channel.sendToQueue(queue, t.content, { ...t.properties, correlationId: 'short', headers: t.properties.headers });
      await waitFor('the warning', () => log.records.find((r) => r.message.startsWith('the reply cannot be sent')));
      // The dead letter's copy is confirmed by the broker, and that confirm must reach it (not the reply
      // that was never written): else the poison delivery stays unacked and goes back when the worker stops.
      const c = await connectClient({ logger: silentLogger });
      await c.send(spec, ['poison'], {}, { ignoreResult: true });
      await c.close();
      await waitFor('the dead letter', async () => ((await raw.channel.checkQueue(`${queue}.dlq`)).messageCount === 1 ? true : undefined));
      await worker.stop();
      expect((await raw.channel.checkQueue(queue)).messageCount, 'deliveries back in the task queue').to.equal(0);
      expect((await raw.channel.checkQueue(`${queue}.dlq`)).messageCount).to.equal(1);
    } finally {
      await worker.stop();
      await deleteQueues(queue, `${queue}.dlq`);
      await raw.close();
    }
  });
});

describe('a worker replying to a burst that mixes task ids the wire cannot carry with retries and dead letters', () => {
  it('replies to every id it can, warns once for each it cannot, and settles every delivery once', async function () {
    this.timeout(60_000);
    const raw = await rawBroker();
    const log = recordingLogger();
    const queue = `hostile-burst-${Date.now()}`;
    const spec = defineTask<[label: string], Record<string, never>, string>({ name: 'hostile.burst', queue, args: { label: Type.String() }, result: Type.String(), retry: { maxAttempts: 2, initialDelayMs: 50, maxDelayMs: 50 } });
    const runs = new Map<string, number>();
    const worker = createWorker({ logger: log, stopTimeoutMs: 3000, prefetch: 16 });
    worker.register(spec, ([label]) => {
      const n = (runs.get(label) ?? 0) + 1;
      runs.set(label, n);
      if (label.startsWith('poison')) throw new Error('poisoned');
      if (label.startsWith('flaky') && n === 1) throw new Error('once');
      return label;
    });
    try {
      await worker.start();
      const { queue: replies } = await raw.channel.assertQueue('', { exclusive: true });
      const got: string[] = [];
      await raw.channel.consume(replies, (m) => m && got.push(String(m.properties.correlationId)), { noAck: true });
      const sent: string[] = [];
      const n = 40;
      for (let i = 0; i < n; i++) {
        const kind = ['long', 'ok', 'poison', 'flaky'][i % 4]!;
        const id = kind === 'long' ? `${i}-${'é'.repeat(140)}` : `${kind}-${i}`;
        const t = encodeTask({ id, task: spec.name, args: [`${kind}-${i}`], kwargs: {}, replyTo: replies, origin: 'test', options: {} });
        raw.channel.sendToQueue(queue, t.content, { ...t.properties, correlationId: `c-${i}`, headers: t.properties.headers });
        if (kind !== 'long') sent.push(id);
      }
      await waitFor('a reply to every short id', () => (got.length >= sent.length ? true : undefined), 30_000);
      await waitFor('the dead letters', async () => ((await raw.channel.checkQueue(`${queue}.dlq`)).messageCount === n / 4 ? true : undefined));
      await worker.stop();
      expect([...got].sort()).to.deep.equal([...sent].sort());
      expect(log.records.filter((r) => r.message.startsWith('the reply cannot be sent'))).to.have.length(n / 4);
      expect((await raw.channel.checkQueue(queue)).messageCount, 'deliveries back in the task queue').to.equal(0);
      expect((await raw.channel.checkQueue(`${queue}.dlq`)).messageCount).to.equal(n / 4);
      const twice = [...runs].filter(([label, k]) => k !== (label.startsWith('poison') || label.startsWith('flaky') ? 2 : 1));
      expect(twice, 'tasks run other than as often as planned').to.deep.equal([]);
    } finally {
      await worker.stop();
      await deleteQueues(queue, `${queue}.dlq`, `${queue}.retry.50`);
      await raw.close();
    }
  });
});

describe("amqplib's own publish (internals differ) and encodeTask's headers getter", () => {
  it('sends every Celery header and property the encoded frames send: a spread of the properties would leave the headers out', async () => {
    const q = `hostile-getter-${Date.now()}`;
    const model = await openConnection();
    const raw = await rawBroker();
    try {
      const channel: ConfirmChannel = await model.createConfirmChannel();
      await channel.assertQueue(q, { durable: true });
      const bare = new Proxy(channel, {
        get: (target, key) => {
          if (key === 'pushConfirmCallback') return undefined;
          const v = Reflect.get(target, key, target) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
      const options = { countdown: 30, expires: 600, timeLimit: 30, softTimeLimit: 20, retries: 3, priority: 4 };
      const t = encodeTask({ id: 'getter-1', task: 'hostile.getter', args: [1, 'ü'], kwargs: { k: 'v' }, replyTo: 'r', origin: 'test', options });
      const m: OutgoingMessage = { exchange: '', routingKey: q, mandatory: true, properties: t.properties, headers: t.wireHeaders, content: t.content };
      publishEncoded(channel, m, () => undefined);
      publishEncoded(bare, m, () => undefined);
      await channel.waitForConfirms();
      const [fast, fallback] = [await raw.channel.get(q, { noAck: true }), await raw.channel.get(q, { noAck: true })];
      if (!fast || !fallback) throw new Error('a message is missing');
      expect(Object.keys(fallback.properties.headers ?? {}).sort(), 'Celery headers').to.deep.equal(Object.keys(t.properties.headers).sort());
      expect(fallback.properties).to.deep.equal(fast.properties);
      expect(fallback.content.equals(fast.content)).to.equal(true);
    } finally {
      await model.close();
      await deleteQueues(q);
      await raw.close();
    }
  });
});

describe('a worker copying a delivery amqplib cannot encode again', () => {
  // Header table entries as they come on the wire, after the Celery headers.
  const cases: [string, Buffer][] = [
    // 255 bytes on the wire, but amqplib reads each 0xff as U+FFFD: 765 bytes when it writes the key again.
    ['a header key of invalid UTF-8', Buffer.concat([Buffer.from([255]), Buffer.alloc(255, 0xff), Buffer.from('S'), Buffer.from([0, 0, 0, 1]), Buffer.from('x')])],
    // Within RabbitMQ's 128 KiB frame, but over the 64 KiB amqplib encodes a header table in.
    ['headers over 64 KiB', Buffer.concat([Buffer.from([3]), Buffer.from('pad'), Buffer.from('S'), Buffer.from([0, 1, 0, 0]), Buffer.alloc(65_536, 0x70)])],
  ];
  for (const [what, entry] of cases) it(`${what}: the copy goes without the headers it cannot carry, the handler runs once, and later copies are matched to their own confirms`, async function () {
    this.timeout(30_000);
    const raw = await rawBroker();
    const log = recordingLogger();
    const queue = `hostile-copy-${Date.now()}`;
    const spec = defineTask<[label: string], Record<string, never>, string>({ name: 'hostile.copy', queue, args: { label: Type.String() }, result: Type.String(), retry: { maxAttempts: 1 } });
    const worker = createWorker({ logger: log, stopTimeoutMs: 3000 });
    const runs = new Map<string, number>();
    worker.register(spec, (_args, _kwargs, ctx) => {
      runs.set(ctx.id, (runs.get(ctx.id) ?? 0) + 1);
      throw new Error('poisoned');
    });
    const model = await openConnection();
    try {
      await worker.start();
      const channel = await model.createConfirmChannel();
      const t = encodeTask({ id: 'hostile-key', task: spec.name, args: ['hostile'], kwargs: {}, replyTo: '', origin: 'test', options: {} });
      const headers = { constant: Buffer.concat([t.wireHeaders.constant, entry]), varying: t.wireHeaders.varying };
      publishEncoded(channel, { exchange: '', routingKey: queue, mandatory: true, properties: t.properties, headers, content: t.content }, () => undefined);
      await channel.waitForConfirms();
      await waitFor('the salvaged copy', () => log.records.find((r) => r.message.startsWith('delivery headers cannot be copied as they are')));
      // The dead letter of a message amqplib can encode: its copy's confirm must reach it, and the delivery be acked.
      const c = await connectClient({ logger: silentLogger });
      await c.send(spec, ['poison'], {}, { ignoreResult: true, taskId: 'plain-poison' });
      await c.close();
      await waitFor('both dead letters', async () => ((await raw.channel.checkQueue(`${queue}.dlq`)).messageCount === 2 ? true : undefined));
      await worker.stop();
      expect(Object.fromEntries(runs), 'handler runs').to.deep.equal({ 'hostile-key': 1, 'plain-poison': 1 });
      expect(log.records.filter((r) => r.message.startsWith('could not move the delivery'))).to.deep.equal([]);
      const letters = [];
      for (let m = await raw.channel.get(`${queue}.dlq`, { noAck: false }); m; m = await raw.channel.get(`${queue}.dlq`, { noAck: false })) letters.push(m.properties.headers ?? {});
      const hostile = letters.find((h) => h['id'] === 'hostile-key')!;
      expect(hostile['x-taskbus-reason']).to.equal('failed');
      expect(hostile['task'], 'the Celery headers stay').to.equal(spec.name);
      expect(String(hostile['x-taskbus-dropped-headers']), 'names what was dropped').to.not.equal('');
      expect(letters.find((h) => h['id'] === 'plain-poison')!['x-taskbus-dropped-headers'], 'a plain copy drops nothing').to.equal(undefined);
      // Unacked deliveries go back to the task queue when the worker stops: the plain poison must not be among them.
      const back: string[] = [];
      for (let m = await raw.channel.get(queue, { noAck: true }); m; m = await raw.channel.get(queue, { noAck: true })) back.push(String(m.properties.headers?.['id']));
      expect(back, 'deliveries back in the task queue').to.deep.equal([]);
    } finally {
      await worker.stop();
      await model.close();
      await deleteQueues(queue, `${queue}.dlq`, `${queue}.retry.1000`, `${queue}.retry.2000`);
      await raw.close();
    }
  });
});
