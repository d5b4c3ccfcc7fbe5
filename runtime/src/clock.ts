/**
 * Time as the runtime reads it: the system clock in production, a virtual one in the test harness
 * (`@taskbus/runtime/testing`), so countdowns, retry delays and expiry can be driven by a test.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once `ms` have passed; the returned function cancels it. */
  after(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  after(ms, fn) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};
