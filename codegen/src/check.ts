import type { GeneratedFiles } from './generate.js';

export interface TreeDiff {
  readonly missing: readonly string[];
  readonly stale: readonly string[];
  /** Files in a generated package that generation no longer produces. */
  readonly extra: readonly string[];
}

/** Compares what generation produces with what is on disk (both keyed by relative path). */
export function diffTree(expected: GeneratedFiles, actual: ReadonlyMap<string, string>): TreeDiff {
  const missing: string[] = [];
  const stale: string[] = [];
  for (const [path, text] of expected) {
    const found = actual.get(path);
    if (found === undefined) missing.push(path);
    else if (found !== text) stale.push(path);
  }
  const extra = [...actual.keys()].filter((p) => !expected.has(p));
  return { missing: missing.sort(), stale: stale.sort(), extra: extra.sort() };
}

export function isClean(d: TreeDiff): boolean {
  return d.missing.length + d.stale.length + d.extra.length === 0;
}
