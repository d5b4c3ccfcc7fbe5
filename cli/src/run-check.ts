import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve, sep } from 'node:path';
import { compareContracts, describeChange, type ContractSource } from '@taskbus/codegen';
import { UsageError } from './errors.js';
import { loadContracts } from './files.js';

export interface CheckOptions {
  /** The contracts directory now. */
  readonly contracts: string;
  /** A directory of contracts, or a git revision whose copy of `contracts` is compared. */
  readonly against: string;
}

/**
 * `taskbus check`: compares the contracts with earlier ones, prints each change (breaking or compatible), the
 * bump each service needs and whether its version says so. Returns the exit code: 1 when anything breaks or
 * a version is too low, else 0.
 */
export async function runCheck(opts: CheckOptions, print: (line: string) => void): Promise<number> {
  const previous = isDirectory(opts.against) ? await loadContracts(opts.against) : await contractsAtRevision(opts.contracts, opts.against);
  const verdicts = compareContracts(previous, await loadContracts(opts.contracts));
  let failed = false;
  for (const v of verdicts) {
    for (const c of v.changes) print(`${c.breaking ? 'breaking' : 'compatible'}: ${describeChange(c)}`);
    const versions = v.from === null ? `new at ${v.to}` : v.to === null ? `removed (was ${v.from})` : `${v.from} -> ${v.to}`;
    print(`${v.service} ${versions}: ${v.bump === 'none' ? 'no change' : `needs a ${v.bump} bump`}${v.tooLow ? `, which the version does not say: ${v.tooLow}` : ''}`);
    failed ||= v.tooLow !== null || v.changes.some((c) => c.breaking);
  }
  print(failed ? `taskbus check: breaking changes or a version too low against ${opts.against}` : `taskbus check: compatible with ${opts.against}`);
  return failed ? 1 : 0;
}

function isDirectory(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

/**
 * The contracts directory as it was at a git revision, read with `git ls-tree` and `git show` (nothing is
 * checked out) into a temporary directory and loaded as any other; none when it did not exist then.
 */
async function contractsAtRevision(contracts: string, revision: string): Promise<ContractSource[]> {
  const dir = resolve(contracts);
  const top = git(existsSync(dir) ? dir : process.cwd(), ['rev-parse', '--show-toplevel'], () => `--against ${revision}: not a directory, and ${contracts} is not in a git repository`).trim();
  git(top, ['rev-parse', '--verify', '--quiet', `${revision}^{commit}`], () => `--against ${revision}: neither a directory nor a commit of the repository at ${top}`);
  const rel = relative(top, dir).split(sep).join('/');
  const files = git(top, ['ls-tree', '-z', revision, '--', rel === '' ? '.' : `${rel}/`], () => `cannot list ${rel} at ${revision}`)
    .split('\0')
    .map((entry) => /^\d+ blob [0-9a-f]+\t(.*)$/s.exec(entry)?.[1])
    .filter((path): path is string => path !== undefined && path.endsWith('.ts') && !path.endsWith('.d.ts'));
  if (files.length === 0) return [];
  const tmp = await mkdtemp(join(tmpdir(), 'taskbus-check-'));
  try {
    for (const path of files) await writeFile(join(tmp, basename(path)), git(top, ['show', `${revision}:${path}`], () => `cannot read ${path} at ${revision}`));
    return await loadContracts(tmp, `${revision}:${rel}`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

function git(cwd: string, args: readonly string[], failure: () => string): string {
  try {
    return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  } catch {
    throw new UsageError(failure());
  }
}
