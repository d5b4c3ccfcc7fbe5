import type { Clock } from '../clock.js';
import type { TestClock } from './types.js';

/** What the clock drives: told of every new timer, and run until idle between the timers it fires. */
export interface ClockDriven {
  wake(): void;
  runUntilIdle(): Promise<void>;
}

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

/** Time that moves only when the test says: timers fire in order of their time, then of their creation. */
export class VirtualClock implements Clock, TestClock {
  private t: number;
  private seq = 0;
  private readonly timers = new Set<Timer>();

  constructor(
    start: number,
    private readonly driven: ClockDriven,
  ) {
    this.t = start;
  }

  readonly now = (): number => this.t;

  readonly after = (ms: number, fn: () => void): (() => void) => {
    const timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.add(timer);
    this.driven.wake();
    return () => this.timers.delete(timer);
  };

  /** The advance going on: another waits for it, so that two called together add up rather than race (and move time back). */
  private advancing: Promise<void> = Promise.resolve();

  readonly advance = (ms: number): Promise<void> => {
    // Time never goes back (timers would fire late, now() would repeat), and NaN or Infinity would stop it for good.
    if (!Number.isFinite(ms) || ms < 0) return Promise.reject(new RangeError(`advance() takes a finite number of milliseconds, 0 or more; got ${ms}`));
    const step = this.advancing.then(() => this.step(ms));
    this.advancing = step.catch(() => undefined);
    return step;
  };

  private async step(ms: number): Promise<void> {
    const until = this.t + ms;
    for (;;) {
      await this.driven.runUntilIdle();
      let next: Timer | undefined;
      for (const t of this.timers) if (t.at <= until && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      if (!next) break;
      this.timers.delete(next);
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = until;
    await this.driven.runUntilIdle();
  }
}
