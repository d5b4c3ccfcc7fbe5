import { basename } from 'node:path';
import { resolveOptions, type GenerateContext, type GenerateOptions } from './context.js';
import { byName, clientFile, contractFile, header, indexFile, tasksFile, workerFile } from './emit-ts.js';
import { packageJson, readme, tsconfigJson } from './emit-package.js';
import { pyproject, pythonModule, pythonNames } from './emit-python.js';
import { rulesBroken } from './contracts.js';
import { ContractDefinitionError, ContractSourceError } from './errors.js';
import { assertConsistentQueueTypes, assertUniqueTaskNames, readContract, type ContractSource, type ServiceModel } from './model.js';
import { cacheKey } from './fingerprint.js';
import { names } from './naming.js';
import { MANIFEST, manifestFile } from './ownership.js';

/** Relative path (always with `/`) to file text. */
export type GeneratedFiles = ReadonlyMap<string, string>;

/** A generated package's files, by path inside it. */
export type PackageFiles = Readonly<Record<string, string>>;

/**
 * Packages generated in an earlier run, by a key of the contract, its file name and the options (see cacheKey):
 * `made` is filled with this run's, the ones found in `known` included; it is what to keep for the next run.
 */
export interface GenerateMemo {
  readonly known: ReadonlyMap<string, PackageFiles>;
  readonly made: Map<string, PackageFiles>;
}

/**
 * Contracts in, files out: pure and deterministic (same contracts give byte-identical files).
 * Paths are relative to the output directory, one `<service>-bindings/` package per contract, each with a
 * manifest of the files generated in it (see ownership.ts). With a memo, a package it holds is not emitted again.
 */
export function generate(sources: readonly ContractSource[], options: GenerateOptions = {}, memo?: GenerateMemo): GeneratedFiles {
  const ctx = resolveOptions(options);
  const services = readServices(sources);
  const files = new Map<string, string>();
  for (const s of services) {
    const key = memo ? cacheKey('generated package', JSON.stringify(ctx), basename(s.source.file), s.source.text) : '';
    const own = memo?.known.get(key) ?? packageFiles(s, ctx);
    memo?.made.set(key, own);
    for (const [path, text] of Object.entries(own)) files.set(`${names.packageDir(s)}/${path}`, text);
  }
  return files;
}

function packageFiles(s: ServiceModel, ctx: GenerateContext): PackageFiles {
  const own: Record<string, string> = {
    'package.json': packageJson(s, ctx),
    'tsconfig.json': tsconfigJson(),
    'README.md': readme(s),
    'src/contract.ts': contractFile(s),
    'src/tasks.ts': tasksFile(s),
    'src/client.ts': clientFile(s),
    'src/worker.ts': workerFile(s),
    'src/index.ts': indexFile(s),
    [`python/${pythonNames.module(s)}.py`]: pythonModule(s, header(s)),
    'python/pyproject.toml': pyproject(s),
  };
  own[MANIFEST] = manifestFile(Object.keys(own));
  return own;
}

/**
 * Every contract read and checked as generate() and the exports need them: sorted by service name, each
 * service declared once, TypeBox-only imports, Celery task names unique across all of them.
 */
export function readServices(sources: readonly ContractSource[]): ServiceModel[] {
  const services = sources.map(readContract).sort((a, b) => byName({ name: a.service }, { name: b.service }));
  services.forEach((s, i) => {
    const problems = rulesBroken(s.source);
    if (problems.length > 0) throw new ContractSourceError(problems);
    if (i > 0 && services[i - 1]!.service === s.service) {
      throw new ContractDefinitionError(s.source.file, `service "${s.service}" is also declared in ${services[i - 1]!.source.file}`);
    }
  });
  assertUniqueTaskNames(services);
  assertConsistentQueueTypes(services);
  return services;
}
