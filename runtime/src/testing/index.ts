/**
 * `@taskbus/runtime/testing`: an in-memory bus to test services without a broker. Its client and workers
 * implement TaskClient and Worker, so generated bindings plug in unchanged; calls are checked and encoded by
 * the same code as the AMQP client's, and deliveries go through the same worker pipeline (contract checks,
 * retries, dead letters, ETA, expiry), with time on a virtual clock the test drives.
 *
 * Like the broker: queues are FIFO per name; a worker takes at most `prefetch` deliveries of each queue at once
 * (held ETAs count) and the workers of a queue take turns; a task's per-message TTL (Celery sets it from
 * `expires`) drops it unseen if it waits in its queue that long, counted from its first enqueue (as a classic
 * queue does; a quorum task queue would dead-letter it), and a TTL of 0 lets it through only to a worker ready
 * at once; retries and parked ETAs come back through "delay queues" timed on the clock. Not modelled:
 * priorities, quorum queues (delivery counts, native delayed delivery), remote control (revoke), publisher
 * confirms and lost connections. Time limits (`timeLimit`, `softTimeLimit`) run on real timers, not the
 * virtual clock.
 *
 * The modules behind it: `clock.ts` the virtual clock, `message.ts` messages as the in-memory broker holds
 * them, `bus.ts` the queues, dead-letter queues and delivery pump, `client.ts` and `worker.ts` the TaskClient
 * and Worker on them, `assertions.ts` what `sent` and `expectSent` check and say, `waits.ts` which handlers
 * runUntilIdle waits for.
 */
import { InMemoryBus } from './bus.js';
import type { TestBus, TestBusOptions } from './types.js';

export type { DeadLetterRecord, ExpectSent, QueuedTask, SentCall, TaskOutcome, TestBus, TestBusOptions, TestClock, TestWorkerOptions } from './types.js';

/** Creates an in-memory bus. */
export function createTestBus(options: TestBusOptions = {}): TestBus {
  return new InMemoryBus(options);
}
