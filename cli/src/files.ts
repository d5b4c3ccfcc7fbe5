import { existsSync, lstatSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { evaluateContracts, evaluateCopies, hasMarker, type CheckCache, MANIFEST, manifestPaths, type ContractSource, type ContractText, type FoundFile, type GeneratedFiles, type TreeDiff } from '@taskbus/codegen';
import { FilesExistError, UsageError } from './errors.js';

/** Build output and installs inside a generated package are not generated files. */
const NOT_GENERATED = new Set(['node_modules', 'dist']);

/**
 * Reads every `*.ts` contract in a directory and evaluates them with codegen (all are type-checked before any
 * runs, except those `cache` holds): each with its path relative to the working directory (or under `shownAs`, for a directory that stands
 * for another place, such as a git revision), its text and its default export.
 */
export async function loadContracts(dir: string, shownAs?: string, cache?: CheckCache): Promise<ContractSource[]> {
  if (!existsSync(dir)) throw new UsageError(`contracts directory "${dir}" does not exist (pass --contracts <dir>)`);
  const entries = (await readdir(dir)).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).sort();
  if (entries.length === 0) throw new UsageError(`no *.ts contracts in "${dir}"`);
  return evaluateContracts(await readContractFiles(entries.map((name) => ({ path: join(dir, name), file: shownAs === undefined ? undefined : `${shownAs}/${name}` }))), cache);
}

/** Reads contract files, each shown as `file` or else by its path relative to the working directory. */
async function readContractFiles(files: readonly { path: string; file?: string | undefined }[]): Promise<ContractText[]> {
  return Promise.all(files.map(async ({ path, file }) => ({ file: file ?? relative(process.cwd(), path).split(sep).join('/'), text: await readFile(path, 'utf8') })));
}

/**
 * The bindings generated before: each package's contract copy (src/contract.ts, loaded as a contract; a copy of one
 * of `current` is not checked or run again) and the version recorded in its package.json. Packages without both are
 * new or not taskbus's, and are skipped.
 */
export async function readPreviousBindings(out: string, current: readonly ContractSource[], cache?: CheckCache): Promise<{ source: ContractSource; version: string }[]> {
  if (!existsSync(out)) return [];
  const packages = (await readdir(out, { withFileTypes: true }))
    .filter((e) => e.isDirectory() && e.name.endsWith('-bindings'))
    .map((e) => join(out, e.name))
    .filter((dir) => existsSync(join(dir, 'src/contract.ts')) && existsSync(join(dir, 'package.json')))
    .sort();
  const sources = await evaluateCopies(await readContractFiles(packages.map((dir) => ({ path: join(dir, 'src/contract.ts') }))), current, cache);
  return Promise.all(
    packages.map(async (dir, i) => {
      const { version } = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { version?: unknown };
      if (typeof version !== 'string') throw new UsageError(`${join(dir, 'package.json')} has no "version"; regenerate it from a clean checkout`);
      return { source: sources[i]!, version };
    }),
  );
}

/** Files read or written at once: the thread pool stays busy and open descriptors stay far below their limit. */
const AT_ONCE = 32;

/** `task` on every item, at most AT_ONCE at a time; the results in the items' order. */
async function mapAtOnce<T, R>(items: readonly T[], task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  const run = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) results[i] = await task(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(AT_ONCE, items.length) }, run));
  return results;
}

/** Files under the generated packages (`*-bindings/`) of an output directory, each marked as taskbus's own or not. */
export async function readGenerated(out: string): Promise<Map<string, FoundFile>> {
  const found = new Map<string, FoundFile>();
  if (!existsSync(out)) return found;
  const packages = (await readdir(out, { withFileTypes: true })).filter((e) => e.isDirectory() && e.name.endsWith('-bindings')).map((e) => e.name);
  const read = await mapAtOnce(packages, async (pkg) => {
    const entries: { path: string; regular: boolean }[] = [];
    const walk = async (rel: string): Promise<void> => {
      for (const entry of await readdir(join(out, pkg, rel), { withFileTypes: true })) {
        const path = rel ? `${rel}/${entry.name}` : entry.name;
        if (entry.isDirectory()) {
          if (!NOT_GENERATED.has(entry.name)) await walk(path);
        } else if (!entry.name.endsWith('.tsbuildinfo')) {
          entries.push({ path, regular: entry.isFile() });
        }
      }
    };
    await walk('');
    return { pkg, entries };
  });
  const texts = await mapAtOnce(
    read.flatMap(({ pkg, entries }) => entries.map((e) => ({ pkg, ...e }))),
    async ({ pkg, path, regular }) => (regular ? readFile(join(out, pkg, path), 'utf8') : null),
  );
  let at = 0;
  for (const { pkg, entries } of read) {
    const inPackage = new Map(entries.map((e) => [e.path, texts[at++]!]));
    const manifest = inPackage.get(MANIFEST);
    const listed = manifest ? manifestPaths(manifest) : null;
    for (const [path, text] of inPackage) {
      const owned = text !== null && (path === MANIFEST ? listed !== null : (listed?.has(path) ?? false) || hasMarker(text));
      found.set(`${pkg}/${path}`, { text, owned });
    }
  }
  return found;
}

/**
 * Applies a diff: writes missing and stale files, deletes extra ones and then any directory that left empty.
 * Refuses, before touching anything, to overwrite a file taskbus did not write.
 */
export async function writeGenerated(out: string, files: GeneratedFiles, diff: TreeDiff): Promise<void> {
  if (diff.conflicts.length > 0) {
    const paths = diff.conflicts.map((p) => `${out}/${p}`).join(', ');
    throw new UsageError(`will not overwrite ${paths}: not written by taskbus (no DO-NOT-EDIT line, not in ${MANIFEST}); move it away and rerun`);
  }
  const writes = [...diff.missing, ...diff.stale];
  for (const dir of new Set(writes.map((path) => dirname(join(out, path))))) await mkdir(dir, { recursive: true });
  await mapAtOnce(writes, (path) => writeFile(join(out, path), files.get(path)!));
  for (const path of diff.extra) {
    await rm(join(out, path));
    // A removed contract's package goes once nothing else is in it; a directory holding anything stays.
    for (let dir = dirname(path); dir !== '.'; dir = dirname(dir)) {
      if ((await readdir(join(out, dir))).length > 0) break;
      await rmdir(join(out, dir));
    }
  }
}

function present(path: string): boolean {
  // lstat, not exists: a dangling symbolic link is still something we must not write through.
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Creates files that are the user's from then on (scaffolds, starter contracts): all or nothing. When any
 * target is already there, nothing is written and FilesExistError lists them. Returns the paths written.
 */
export async function createFiles(out: string, files: GeneratedFiles): Promise<string[]> {
  const targets = [...files.keys()].map((p) => join(out, p));
  const existing = targets.filter(present);
  if (existing.length > 0) throw new FilesExistError(existing);
  for (const [path, text] of files) {
    await mkdir(dirname(join(out, path)), { recursive: true });
    // 'wx' still refuses a file that appeared since the check.
    await writeFile(join(out, path), text, { flag: 'wx' });
  }
  return targets;
}

/** Writes exported files (paths relative to `out`), creating folders and replacing earlier exports. Returns the paths written. */
export async function writeFiles(out: string, files: GeneratedFiles): Promise<string[]> {
  const written: string[] = [];
  for (const [path, text] of files) {
    await mkdir(dirname(join(out, path)), { recursive: true });
    await writeFile(join(out, path), text);
    written.push(join(out, path));
  }
  return written;
}
