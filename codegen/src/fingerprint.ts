import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ts } from 'ts-morph';
import { TYPEBOX } from './contract-rules.js';

/** The version of an installed package, from the package.json above the module `specifier` resolves to. */
function versionOf(specifier: string, name: string): string {
  for (let dir = dirname(fileURLToPath(import.meta.resolve(specifier))); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    const found = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown; version?: unknown };
    if (found.name === name && typeof found.version === 'string') return found.version;
  }
  throw new Error(`cannot find the package.json of ${name}; reinstall @taskbus/codegen`);
}

/** The module at `url` and every module it imports by a relative path, as they are on disk. */
function moduleGraph(url: string, seen = new Set<string>()): Set<string> {
  const file = fileURLToPath(url);
  // A specifier read off a comment may name no file.
  if (seen.has(file) || !existsSync(file)) return seen;
  seen.add(file);
  for (const [, specifier] of readFileSync(file, 'utf8').matchAll(/\b(?:from|import)\s*['"](\.{1,2}\/[^'"]+)['"]/g)) moduleGraph(new URL(specifier!, url).href, seen);
  return seen;
}

/**
 * What a remembered result (a passed check, a generated package) depends on besides its input: every module of
 * this codegen as it is on disk (not only its version), the runtime's modules it calls while generating (the
 * Python bindings' queue arguments), and the TypeScript, ts-morph and TypeBox it runs with, TypeBox by where it
 * is too (compiled contracts import it by that URL).
 */
const FINGERPRINT = (() => {
  const here = dirname(fileURLToPath(import.meta.url));
  const hash = createHash('sha256').update(JSON.stringify([ts.version, versionOf('ts-morph', 'ts-morph'), versionOf(TYPEBOX, TYPEBOX), import.meta.resolve(TYPEBOX)]));
  // .js once built, .ts when run from source
  for (const file of readdirSync(here).filter((f) => /\.[jt]s$/.test(f) && !f.endsWith('.d.ts')).sort()) hash.update(file).update(readFileSync(join(here, file)));
  // Not only its version: a workspace's runtime changes without one.
  for (const file of [...moduleGraph(import.meta.resolve('@taskbus/runtime/queues'))].sort()) hash.update(readFileSync(file));
  return hash.digest('hex');
})();

/** A key for a result of `kind` computed from `parts` by this codegen. */
export function cacheKey(kind: string, ...parts: readonly string[]): string {
  const hash = createHash('sha256').update(FINGERPRINT).update(kind);
  // Each part prefixed by its length: no two lists of parts hash alike.
  for (const part of parts) hash.update(`\0${part.length}\0`).update(part);
  return hash.digest('hex');
}
