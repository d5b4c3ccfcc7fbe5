import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * One delivery's work in a harness worker. While its handler awaits the result of a call it sent on the bus,
 * it is `waiting`: that result may need the clock (the call's countdown or retry delay, its timeout), which
 * runUntilIdle does not move, so runUntilIdle does not wait for it then.
 */
export class Work {
  waiting = 0;
  promise: Promise<void> = Promise.resolve();
}

const current = new AsyncLocalStorage<Work>();

/** Runs a delivery's pipeline as `work`, so that result() calls made by its handler are known as its own. */
export function runAsWork(work: Work, run: () => Promise<void>): Promise<void> {
  work.promise = current.run(work, run);
  return work.promise;
}

/** A result() on the bus: while it is pending, the handler awaiting it (if any) counts as waiting; `changed` is told each way. */
export function waitingForBus<T>(result: Promise<T>, changed: () => void): Promise<T> {
  const work = current.getStore();
  if (!work) return result;
  work.waiting++;
  changed();
  const done = () => {
    work.waiting--;
    changed();
  };
  result.then(done, done);
  return result;
}
