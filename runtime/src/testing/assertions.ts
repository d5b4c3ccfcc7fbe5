import { AssertionError } from 'node:assert';
import { inspect, isDeepStrictEqual } from 'node:util';
import type { TaskSpec } from '../task.js';
import type { ExpectSent, SentCall } from './types.js';

/** The calls of one task (by name, or of a spec's name), oldest first; all of them when none is given. */
export function sentOf(calls: readonly SentCall[], task?: TaskSpec<readonly unknown[], object, unknown> | string): SentCall[] {
  const name = typeof task === 'string' ? task : task?.name;
  return calls.filter((c) => name === undefined || c.task === name);
}

/** Throws an AssertionError saying what was expected and listing what was sent, unless `calls` hold the expected call. */
export function expectSent<A extends readonly unknown[], K extends object, R>(calls: readonly SentCall[], spec: TaskSpec<A, K, R> | string, expected: ExpectSent<A, K> = {}): void {
  const name = typeof spec === 'string' ? spec : spec.name;
  const ofTask = sentOf(calls, name);
  const matches = (c: SentCall) =>
    (expected.args === undefined || isDeepStrictEqual(c.args, expected.args)) && (expected.kwargs === undefined || isDeepStrictEqual(c.kwargs, expected.kwargs));
  const matching = ofTask.filter(matches).length;
  if (expected.times === undefined ? matching > 0 : matching === expected.times) return;
  const show = (v: unknown) => inspect(v, { depth: 6, breakLength: Infinity });
  const times = (n: number) => (n === 1 ? 'once' : `${n} times`);
  const version = typeof spec !== 'string' && spec.version !== undefined ? ` (v${spec.version})` : '';
  const what = [expected.args !== undefined ? `args ${show(expected.args)}` : '', expected.kwargs !== undefined ? `kwargs ${show(expected.kwargs)}` : ''].filter(Boolean);
  const wanted = [expected.times === undefined ? 'at least once' : times(expected.times), what.length > 0 ? `with ${what.join(' and ')}` : ''].filter(Boolean);
  const seen =
    ofTask.length > 0
      ? `it was sent ${times(ofTask.length)}:\n${ofTask.map((c, i) => `  ${i + 1}. args ${show(c.args)} kwargs ${show(c.kwargs)} (id ${c.id}, queue ${c.queue})`).join('\n')}`
      : `it was never sent; sent were: ${[...new Set(calls.map((c) => c.task))].join(', ') || 'nothing'}`;
  throw new AssertionError({
    message: `expected ${name}${version} to be sent ${wanted.join(' ')}, but ${matching} call${matching === 1 ? '' : 's'} matched; ${seen}`,
    actual: ofTask.map((c) => ({ args: c.args, kwargs: c.kwargs })),
    expected,
    operator: 'expectSent',
  });
}
