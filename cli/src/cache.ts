import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { CheckCache, GenerateMemo, PackageFiles } from '@taskbus/codegen';

const FORMAT = 2;

/** What generate remembers between runs: contracts that passed their checks, and the packages it generated. */
export interface GenerateCache {
  readonly check: CheckCache;
  readonly packages: GenerateMemo;
}

/**
 * Where `generate` keeps its cache: the node_modules/.cache of the project holding the contracts (as babel and
 * eslint keep theirs), one file per contracts directory; null outside a project.
 */
export function cacheFile(contractsDir: string): string | null {
  const contracts = resolve(contractsDir);
  const name = `generate-${createHash('sha256').update(contracts).digest('hex').slice(0, 16)}.json`;
  for (let dir = contracts; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'node_modules', '.cache', 'taskbus', name);
    if (dir === dirname(dir)) return null;
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isFiles = (v: unknown): v is PackageFiles => isRecord(v) && Object.values(v).every((text) => typeof text === 'string');

/** The cache in `file`; empty when there is none or it cannot be read (it is only ever a shortcut). */
export async function readCache(file: string): Promise<GenerateCache> {
  const contracts = new Map<string, string>();
  const packages = new Map<string, PackageFiles>();
  const cache: GenerateCache = { check: { known: contracts, passed: new Map() }, packages: { known: packages, made: new Map() } };
  let data: unknown;
  try {
    data = JSON.parse(await readFile(file, 'utf8'));
  } catch {
    return cache; // missing or unreadable: everything is checked and generated
  }
  if (!isRecord(data) || data['format'] !== FORMAT || !isRecord(data['contracts']) || !isRecord(data['packages'])) return cache;
  for (const [key, js] of Object.entries(data['contracts'])) if (typeof js === 'string') contracts.set(key, js);
  for (const [key, files] of Object.entries(data['packages'])) if (isFiles(files)) packages.set(key, files);
  return cache;
}

const sameKeys = (a: ReadonlyMap<string, unknown>, b: ReadonlyMap<string, unknown>) => a.size === b.size && [...a.keys()].every((k) => b.has(k));

/**
 * Keeps this run's entries (only those: entries of removed or edited contracts go) when they differ from what
 * was read. Written whole and renamed into place, so a concurrent run reads one file or the other; a cache that
 * cannot be written is left alone.
 */
export async function writeCache(file: string, cache: GenerateCache): Promise<void> {
  if (sameKeys(cache.check.passed, cache.check.known) && sameKeys(cache.packages.made, cache.packages.known)) return;
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    await mkdir(dirname(file), { recursive: true });
    const data = { format: FORMAT, contracts: Object.fromEntries(cache.check.passed), packages: Object.fromEntries(cache.packages.made) };
    await writeFile(temporary, JSON.stringify(data));
    await rename(temporary, file);
  } catch {
    // read-only or full: the next run checks and generates again
    await rm(temporary, { force: true }).catch(() => undefined);
  }
}
