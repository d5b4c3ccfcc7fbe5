import type { TSchema } from '@sinclair/typebox';
import { readContract, type ContractSource, type ServiceModel, type TaskModel, type VersionModel } from './model.js';
import { canonical } from './json.js';
import { diffSchema, place, type Finding } from './schema-diff.js';
import { VersionTooLowError } from './errors.js';

/** The least semver bump a change needs: none (identical), patch (no schema change), minor (compatible), major (breaking). */
export type Bump = 'none' | 'patch' | 'minor' | 'major';

/** One difference between two versions of the contracts, keyed by a task version's Celery name. */
export interface Change {
  readonly breaking: boolean;
  readonly service: string;
  readonly task: string;
  readonly version: number;
  /** Celery task name. */
  readonly name: string;
  readonly reason: string;
}

/** What one service's contract needs, compared with its previous contract. */
export interface ServiceVerdict {
  readonly service: string;
  readonly changes: readonly Change[];
  readonly bump: Bump;
  /** Versions of the previous and the new contract; null where the service does not exist. */
  readonly from: string | null;
  readonly to: string | null;
  /** Set when `to` is not at least `bump` above `from`: what to do about it. */
  readonly tooLow: string | null;
}

/** `pusher sendToS3 v1 (pusher.send_to_s3): argument 'content' removed` */
export function describeChange(c: Change): string {
  return `${c.service} ${c.task} v${c.version} (${c.name}): ${c.reason}`;
}

/** Compares the previous contracts with the new ones, service by service (sorted by name). */
export function compareContracts(previous: readonly ContractSource[], next: readonly ContractSource[]): ServiceVerdict[] {
  return compareModels(previous.map(readContract), next.map(readContract));
}

function compareModels(previous: readonly ServiceModel[], next: readonly ServiceModel[]): ServiceVerdict[] {
  const services = [...new Set([...previous, ...next].map((s) => s.service))].sort();
  return services.map((name) => {
    const old = previous.find((s) => s.service === name) ?? null;
    const now = next.find((s) => s.service === name) ?? null;
    const changes = compareService(name, old, now);
    const bump: Bump = changes.some((c) => c.breaking)
      ? 'major'
      : changes.length > 0
        ? 'minor'
        : old && now && canonical(shape(old)) !== canonical(shape(now))
          ? 'patch'
          : 'none';
    return { service: name, changes, bump, from: old?.version ?? null, to: now?.version ?? null, tooLow: old && now ? tooLow(old.version, now.version, bump) : null };
  });
}

/**
 * Refuses new contracts whose `version` is lower than their changes need, compared with the bindings generated
 * before (their contract copy and the version recorded in their package.json). Pure: the CLI reads both.
 */
export function assertVersionBumps(previous: readonly { source: ContractSource; version: string }[], next: readonly ContractSource[]): void {
  const old = previous.map((p) => ({ ...readContract(p.source), version: p.version }));
  const problems = compareModels(old, next.map(readContract)).flatMap((v) =>
    v.tooLow && v.to !== null ? [{ service: v.service, from: v.from!, to: v.to, bump: v.bump, advice: v.tooLow }] : [],
  );
  if (problems.length > 0) throw new VersionTooLowError(problems);
}

/** Why `to` is too low for `bump` after `from`, with the least version that would do; null when it is enough. */
export function tooLow(from: string, to: string, bump: Bump): string | null {
  const [a, b] = [parse(from), parse(to)];
  const given = bumpBetween(a, b);
  if (given !== null && RANK[given] >= RANK[bump]) return null;
  const least = leastVersion(a, bump);
  return given === null ? `version went down from ${from} to ${to}; set it to ${least} or later` : `set version to ${least} or later`;
}

const RANK: Record<Bump, number> = { none: 0, patch: 1, minor: 2, major: 3 };

type Semver = readonly [number, number, number];

function parse(v: string): Semver {
  const [major = 0, minor = 0, patch = 0] = v.split(/[-+]/)[0]!.split('.').map(Number);
  return [major, minor, patch];
}

/**
 * How far `b` is above `a`, null when below. Below 1.0.0 npm's caret range (^0.3.1 is <0.4.0) moves everything
 * down one place: a minor step may break, a patch step may add.
 */
function bumpBetween(a: Semver, b: Semver): Bump | null {
  const i = [0, 1, 2].find((k) => a[k] !== b[k]);
  if (i === undefined) return 'none';
  if (b[i]! < a[i]!) return null;
  const zero = a[0] === 0 && b[0] === 0;
  return (zero ? ['major', 'major', 'minor'] : ['major', 'minor', 'patch'])[i] as Bump;
}

function leastVersion([major, minor, patch]: Semver, bump: Bump): string {
  if (bump === 'none') return `${major}.${minor}.${patch}`;
  if (major === 0) return bump === 'major' ? `0.${minor + 1}.0` : `0.${minor}.${patch + 1}`;
  return bump === 'major' ? `${major + 1}.0.0` : bump === 'minor' ? `${major}.${minor + 1}.0` : `${major}.${minor}.${patch + 1}`;
}

/** Everything of a contract that a patch release may change: all but its file and its own version. */
function shape(s: ServiceModel): unknown {
  return { ...s, source: null, version: null };
}

interface Located {
  readonly task: TaskModel;
  readonly version: VersionModel;
}

function versionsOf(s: ServiceModel | null): Located[] {
  return (s?.tasks ?? []).flatMap((task) => task.versions.map((version) => ({ task, version })));
}

function compareService(service: string, old: ServiceModel | null, now: ServiceModel | null): Change[] {
  const before = versionsOf(old);
  const after = versionsOf(now);
  const byName = new Map(after.map((l) => [l.version.name, l]));
  const claimed = new Set<string>();
  const changes: Change[] = [];
  const report = (l: Located, breaking: boolean, reason: string) =>
    changes.push({ breaking, service, task: l.task.key, version: l.version.version, name: l.version.name, reason });

  for (const b of before) {
    const a = byName.get(b.version.name);
    if (a) {
      claimed.add(a.version.name);
      if (a.task.key !== b.task.key) report(b, true, `task key changed from '${b.task.key}' to '${a.task.key}' (the generated functions are renamed)`);
      if (a.version.version !== b.version.version) report(b, true, `version number changed from ${b.version.version} to ${a.version.version} (delegates map versions to tasks)`);
      for (const [breaking, reason] of compareVersion(b.version, a.version)) report(b, breaking, reason);
      continue;
    }
    // The same task version under another Celery name: callers still send the old name.
    const renamed = after.find((l) => l.task.key === b.task.key && l.version.version === b.version.version && !before.some((x) => x.version.name === l.version.name));
    if (renamed) {
      claimed.add(renamed.version.name);
      report(b, true, `task name changed to '${renamed.version.name}' (workers no longer serve '${b.version.name}')`);
    } else if (b.version.deprecated) {
      report(b, false, 'version removed (it was deprecated)');
    } else {
      report(b, true, 'version removed while not deprecated (mark it deprecated in a release first)');
    }
  }
  for (const a of after) {
    if (claimed.has(a.version.name)) continue;
    const newTask = !before.some((b) => b.task.key === a.task.key);
    report(a, false, old === null ? 'new task (new service)' : newTask ? 'new task' : 'new version');
  }
  return changes.sort((x, y) => cmp(x.task, y.task) || x.version - y.version || cmp(x.reason, y.reason));
}

/** [breaking, reason] for each difference between two versions of one task version. */
function compareVersion(b: VersionModel, a: VersionModel): [boolean, string][] {
  const out: [boolean, string][] = [];
  if (a.queue !== b.queue) out.push([true, `queue changed from '${b.queue}' to '${a.queue}'`]);
  // Celery declares the queue on every publish: a declaration with the other type's arguments is refused.
  else if (a.queueType !== b.queueType) {
    out.push([
      true,
      `queue '${a.queue}' changed from ${b.queueType} to ${a.queueType} (callers with the earlier bindings declare it as ${b.queueType}, and RabbitMQ refuses them with 406 PRECONDITION_FAILED)`,
    ]);
  }
  if (!b.deprecated && a.deprecated) out.push([false, `marked deprecated${a.deprecated.note ? `: ${a.deprecated.note}` : ''}`]);
  if (b.deprecated && !a.deprecated) out.push([false, 'no longer deprecated']);

  const renamedTo = new Map<string, string>();
  b.args.forEach((name, i) => {
    const j = a.args.indexOf(name);
    const there = a.args[i];
    if (j === -1 && there !== undefined && !b.args.includes(there)) {
      renamedTo.set(there, name);
      out.push([true, `argument '${name}' renamed to '${there}'`]);
    } else if (j === -1) {
      out.push([true, `argument '${name}' removed`]);
    } else if (j !== i) {
      out.push([true, `argument '${name}' moved from position ${i + 1} to ${j + 1}`]);
    } else {
      out.push(...judge(diffSchema(b.schemas.args[name], a.schemas.args[name], place(`argument '${name}'`)), 'input'));
    }
  });
  for (const name of a.args) {
    if (!b.args.includes(name) && !renamedTo.has(name)) out.push([true, `argument '${name}' added as required (positional arguments are always required)`]);
  }
  out.push(...judge(diffSchema(closedKwargs(b.schemas.kwargs), closedKwargs(a.schemas.kwargs), place('kwargs', (k) => `kwarg '${k}'`)), 'input'));
  out.push(...judge(diffSchema(b.schemas.result, a.schemas.result, place('result', (k) => `result field '${k}'`)), 'output'));
  return out;
}

/** Arguments may accept more; results may promise more. A change that is neither breaks someone. */
function judge(findings: readonly Finding[], side: 'input' | 'output'): [boolean, string][] {
  const safe = side === 'input' ? 'widened' : 'narrowed';
  return findings.map((f) => [f.direction !== safe && f.direction !== 'added', f.text]);
}

/** Kwargs as the runtime checks them: unknown keys refused, as Python would (runtime/src/task.ts). */
function closedKwargs(kwargs: TSchema | null): unknown {
  return { type: 'object', properties: {}, ...kwargs, additionalProperties: false };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
