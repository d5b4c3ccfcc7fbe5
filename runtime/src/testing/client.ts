import { randomUUID } from 'node:crypto';
import type { CallOptions } from '../celery/message.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_RESULT_LIMITS, prepareCall, sentTask, type Caller, type SentTask, type TaskClient } from '../client.js';
import { ClosedError } from '../errors.js';
import { ResultStore } from '../result-store.js';
import type { TaskSpec } from '../task.js';
import type { InMemoryBus } from './bus.js';
import { stored } from './message.js';
import { waitingForBus } from './waits.js';

/** The bus's TaskClient: checks and encodes a call as the AMQP client does, then puts it in its queue at once. */
export class TestClient implements TaskClient {
  readonly metricsRegistry = null;
  private readonly replyTo = `taskbus-test-${randomUUID()}`;
  private readonly origin = `gen${process.pid}@taskbus-test`;
  private readonly results: ResultStore;
  private readonly caller: Caller;
  private closed = false;

  constructor(private readonly bus: InMemoryBus) {
    this.results = new ResultStore(DEFAULT_RESULT_LIMITS, bus.log, bus.clock);
    this.caller = {
      replyTo: this.replyTo,
      origin: this.origin,
      now: bus.clock.now,
      maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
      assertOpen: () => {
        if (this.closed) throw new ClosedError('test bus client');
      },
    };
    bus.replyQueue(this.replyTo, this.results);
  }

  async send<A extends readonly unknown[], K extends object, R>(spec: TaskSpec<A, K, R>, args: A, kwargs: K, options: CallOptions = {}): Promise<SentTask<R>> {
    const { id, queue, encoded } = prepareCall(spec, args, kwargs, options, this.caller);
    const ticket = options.ignoreResult ? null : this.results.expect(id, spec.name);
    // The arguments as the message holds them (JSON, as a worker reads them): not the caller's objects, which it may change after.
    const [sentArgs, sentKwargs] = JSON.parse(encoded.content.toString('utf8')) as [A, K];
    this.bus.recordCall({ id, task: spec.name, queue, args: sentArgs, kwargs: sentKwargs, options });
    // The properties' headers are a getter: read once, as the AMQP client's publish does.
    this.bus.enqueue(queue, stored(encoded.content, { ...encoded.properties, headers: encoded.properties.headers }, this.bus.clock.now()));
    const sent = sentTask(spec, id, queue, this.results, ticket);
    // A handler awaiting this result does not hold runUntilIdle: the result may need the clock to come.
    return { ...sent, result: (o) => waitingForBus(sent.result(o), () => this.bus.wake()) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.results.close(new ClosedError('test bus client'));
  }
}
