import { Type } from '@sinclair/typebox';
import { connectClient, createWorker, defineTask, RemoteTaskError, silentLogger, untypedTask, type TaskClient, type TaskSpec, type Worker } from '@taskbus/runtime';
import { createTestBus } from '@taskbus/runtime/testing';
import { expect } from 'chai';
import { rawBroker, uniqueQueue, waitFor } from '../support/broker.js';

// One scenario on the in-memory harness and on RabbitMQ: the outcomes (results, error types, dead-letter
// reasons and errors, attempts) must be the same, since both run the same client and worker pipeline code.

type Label = 'ok' | 'flaky' | 'poison' | 'later' | 'stale' | 'instant' | 'bad-args';

interface Summary {
  readonly outcomes: Record<string, unknown>;
  readonly attempts: Record<string, number>;
  readonly deadLetters: readonly (readonly [label: string, reason: string, error: string])[];
}

interface Transport {
  readonly client: TaskClient;
  readonly worker: Worker;
  /** Lets the scenario's time pass: the virtual clock, or real time on the broker. */
  settle(outcomes: Promise<unknown>[]): Promise<void>;
  /** The dead letters of the queue, as [task id, reason, error]. */
  deadLetters(): Promise<[string, string, string][]>;
  close(): Promise<void>;
}

function jobSpec(queue: string): TaskSpec<[label: string], Record<string, never>, string> {
  return defineTask<[label: string], Record<string, never>, string>({
    name: 'parity.job',
    queue,
    args: { label: Type.String() },
    result: Type.String(),
    retry: { maxAttempts: 3, initialDelayMs: 100 },
  });
}

async function scenario(queue: string, make: (spec: TaskSpec<[label: string], Record<string, never>, string>) => Promise<Transport>): Promise<Summary> {
  const spec = jobSpec(queue);
  const t = await make(spec);
  const runs = new Map<string, number>();
  const labels = new Map<string, Label>();
  t.worker.register(spec, ([label], _kwargs, ctx) => {
    const n = (runs.get(ctx.id) ?? 0) + 1;
    runs.set(ctx.id, n);
    if (label === 'poison' || (label === 'flaky' && n <= 2)) throw new Error(`${label} failed on attempt ${n}`);
    return `done ${label}`;
  });
  try {
    await t.worker.start();
    const calls: [Label, () => ReturnType<TaskClient['send']>][] = [
      ['ok', () => t.client.send(spec, ['ok'], {})],
      ['flaky', () => t.client.send(spec, ['flaky'], {})],
      ['poison', () => t.client.send(spec, ['poison'], {})],
      ['later', () => t.client.send(spec, ['later'], {}, { countdown: 1 })],
      ['stale', () => t.client.send(spec, ['stale'], {}, { countdown: 1, expires: 0.5 })],
      // A TTL of 0: the broker hands it to the waiting worker at once rather than dropping it; expired, it is revoked.
      ['instant', () => t.client.send(spec, ['instant'], {}, { expires: 0 })],
      ['bad-args', () => t.client.send(untypedTask('parity.job', queue), [42], {})],
    ];
    const sent = [];
    for (const [label, send] of calls) {
      const s = await send();
      labels.set(s.id, label);
      sent.push({ label, s });
    }
    const outcomes = sent.map(({ label, s }) =>
      s.result({ timeoutMs: 15_000 }).then(
        (value) => [label, { value }] as const,
        (e: unknown) => [label, e instanceof RemoteTaskError ? { state: e.state, excType: e.excType, excMessage: e.excMessage } : { error: String(e) }] as const,
      ),
    );
    await t.settle(outcomes);
    const settled = await Promise.all(outcomes);
    const dead = await t.deadLetters();
    return {
      outcomes: Object.fromEntries(settled),
      attempts: Object.fromEntries([...labels].map(([id, label]) => [label, runs.get(id) ?? 0])),
      deadLetters: dead.map(([id, reason, error]) => [labels.get(id) ?? id, reason, error] as const).sort((a, b) => a[0].localeCompare(b[0])),
    };
  } finally {
    await t.close();
  }
}

describe('harness parity: one scenario on the in-memory bus and on RabbitMQ gives the same outcome', function () {
  this.timeout(60_000);
  const queue = uniqueQueue('parity-it');
  let raw: Awaited<ReturnType<typeof rawBroker>>;

  before(async () => {
    raw = await rawBroker();
  });

  after(async () => {
    for (const q of [queue, `${queue}.dlq`, `${queue}.retry.100`, `${queue}.retry.200`]) await raw?.channel.deleteQueue(q);
    await raw?.channel.deleteExchange(queue);
    await raw?.close();
  });

  const onHarness = () =>
    scenario(queue, async () => {
      const bus = createTestBus();
      return {
        client: bus.client,
        worker: bus.worker(),
        settle: () => bus.clock.advance(5000),
        deadLetters: async () => bus.deadLetters(queue).map((d) => [d.id, d.reason, d.error]),
        close: () => bus.close(),
      };
    });

  const onBroker = () =>
    scenario(queue, async () => {
      const client = await connectClient({ logger: silentLogger });
      const worker = createWorker({ logger: silentLogger });
      return {
        client,
        worker,
        // Real time: every result (the retries' 100 and 200 ms delays, the 1 s countdown), then the dead letters.
        settle: async (outcomes) => {
          await Promise.all(outcomes);
          await waitFor('two dead letters', async () => ((await raw.channel.checkQueue(`${queue}.dlq`)).messageCount >= 2 ? true : undefined));
        },
        deadLetters: async () => {
          const found: [string, string, string][] = [];
          for (let m = await raw.channel.get(`${queue}.dlq`, { noAck: true }); m; m = await raw.channel.get(`${queue}.dlq`, { noAck: true })) {
            const h = m.properties.headers ?? {};
            found.push([String(h['id']), String(h['x-taskbus-reason']), String(h['x-taskbus-error'])]);
          }
          return found;
        },
        close: async () => {
          await worker.stop();
          await client.close();
        },
      };
    });

  it('results, remote errors, attempts and dead letters match', async () => {
    const harness = await onHarness();
    const broker = await onBroker();
    expect(harness).to.deep.equal(broker);
    // And what that outcome is, so that both cannot be wrong alike.
    const badArgs = 'invalid arguments for task parity.job; nothing was sent:\n  - label: Expected string';
    expect(harness).to.deep.equal({
      outcomes: {
        ok: { value: 'done ok' },
        flaky: { value: 'done flaky' },
        poison: { state: 'FAILURE', excType: 'Error', excMessage: 'poison failed on attempt 3' },
        later: { value: 'done later' },
        stale: { state: 'REVOKED', excType: 'TaskRevokedError', excMessage: 'expired' },
        instant: { state: 'REVOKED', excType: 'TaskRevokedError', excMessage: 'expired' },
        'bad-args': { state: 'FAILURE', excType: 'TypeError', excMessage: badArgs },
      },
      attempts: { ok: 1, flaky: 3, poison: 3, later: 1, stale: 0, instant: 0, 'bad-args': 0 },
      deadLetters: [
        ['bad-args', 'invalid-arguments', badArgs],
        ['poison', 'failed', 'Error: poison failed on attempt 3 (after 3 attempts)'],
      ],
    });
  });
});
