import { systemClock, type Clock } from '../clock.js';
import type { Delivery } from './delivery.js';

/** What to do with a task whose ETA is `delayMs` away. */
export type EtaPlan = { readonly hold: Promise<boolean> } | { readonly parkMs: number };

/**
 * ETA tasks due soon are held unacked, but only up to a budget: held deliveries use prefetch slots,
 * which are also the worker's concurrency, so without a budget a burst of countdowns would stop every
 * other task. Beyond the budget, and for far-off ETAs (RabbitMQ's consumer_timeout would close the
 * channel), the task is parked in a delay queue and looked at again when it comes back.
 */
export class EtaScheduler {
  private readonly held = new Map<Delivery, { readonly cancel: () => void; readonly resolve: (due: boolean) => void }>();

  constructor(
    /** At most this many held at once (default: half the prefetch). */
    private readonly budget: number,
    /** Longest hold; later ETAs are parked (default 10 minutes). */
    private readonly maxHoldMs: number,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Deliveries held right now, waiting for their ETA. */
  get holding(): number {
    return this.held.size;
  }

  plan(d: Delivery, delayMs: number): EtaPlan {
    if (delayMs > this.maxHoldMs || this.held.size >= this.budget) return { parkMs: parkBucketMs(delayMs) };
    return {
      hold: new Promise<boolean>((resolve) => {
        const cancel = this.clock.after(delayMs, () => {
          this.held.delete(d);
          resolve(true);
        });
        this.held.set(d, { cancel, resolve });
      }),
    };
  }

  /** Gives every held delivery back to the broker (the worker is stopping). */
  giveBackAll(): void {
    for (const [d, h] of this.held) {
      h.cancel();
      d.requeue();
      h.resolve(false);
    }
    this.held.clear();
  }

  /** Forgets held deliveries whose channel closed: the broker has them again. */
  dropLost(): void {
    for (const [d, h] of this.held) {
      if (d.settled !== 'channel-lost') continue;
      h.cancel();
      this.held.delete(d);
      h.resolve(false);
    }
  }
}

/**
 * The delay queue a parked task waits in: the largest power-of-two seconds not beyond its ETA (1 s at
 * least), so it comes back early rather than late, and only a few delay queues ever exist.
 */
export function parkBucketMs(delayMs: number): number {
  return 1000 * 2 ** Math.floor(Math.log2(Math.max(1, delayMs / 1000)));
}
