/** p50/p99 of samples (any unit), or nulls when there are none. */
export function percentiles(samples: readonly number[]): { p50: number; p99: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: s[Math.floor(s.length / 2)] ?? NaN, p99: s[Math.floor(s.length * 0.99)] ?? NaN };
}

export const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
