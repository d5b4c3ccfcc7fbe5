import type { GeneratedFiles } from './generate.js';

/** A file found under a generated package. */
export interface FoundFile {
  /** Null for anything but a regular file (a symbolic link is never followed, read or written through). */
  readonly text: string | null;
  /** Written by taskbus: listed in its package's manifest or starting with the DO-NOT-EDIT line (ownership.ts). */
  readonly owned: boolean;
}

export interface TreeDiff {
  readonly missing: readonly string[];
  /** Generated files whose text differs from what generation produces now. */
  readonly stale: readonly string[];
  /** Generated files that generation no longer produces: deleted by `generate`. */
  readonly extra: readonly string[];
  /** Files taskbus did not write, at a path it would write: `generate` refuses to overwrite them. */
  readonly conflicts: readonly string[];
  /** Files taskbus did not write, elsewhere in a generated package: never touched, only reported. */
  readonly leftAlone: readonly string[];
}

/** Compares what generation produces with what is on disk (both keyed by path relative to the output directory). */
export function diffTree(expected: GeneratedFiles, found: ReadonlyMap<string, FoundFile>): TreeDiff {
  const diff = { missing: [] as string[], stale: [] as string[], extra: [] as string[], conflicts: [] as string[], leftAlone: [] as string[] };
  for (const [path, text] of expected) {
    const file = found.get(path);
    if (file === undefined) diff.missing.push(path);
    else if (file.text !== text) (file.owned ? diff.stale : diff.conflicts).push(path);
  }
  for (const [path, file] of found) {
    if (!expected.has(path)) (file.owned ? diff.extra : diff.leftAlone).push(path);
  }
  for (const list of Object.values(diff)) list.sort();
  return diff;
}

/** Up to date: hand-written files (left alone) do not count. */
export function isClean(d: TreeDiff): boolean {
  return d.missing.length + d.stale.length + d.extra.length + d.conflicts.length === 0;
}
