import type { TObject, TSchema } from '@sinclair/typebox';
import type { QueueType } from '@taskbus/runtime/queues';
import { assertConsistentQueueTypes, assertUniqueTaskNames, readContract, type ContractSource, type ServiceModel, type TaskModel, type VersionModel } from './model.js';

/** One task version with its schemas, in the shape the runtime's defineTask() takes, plus where it came from. */
export interface TaskVersion {
  readonly service: string;
  readonly task: string;
  readonly version: number;
  /** Celery task name. */
  readonly name: string;
  readonly queue: string;
  /** The type of `queue` when taskbus has to create it. */
  readonly queueType: QueueType;
  readonly description: string | null;
  /** Positional arguments in order. */
  readonly args: Readonly<Record<string, TSchema>>;
  readonly kwargs?: TObject;
  readonly result: TSchema;
}

/** The schemas of a version that readContract() accepted (so they are TypeBox schemas). */
export function versionOf(s: ServiceModel, t: TaskModel, v: VersionModel): TaskVersion {
  const exported = s.source.exported as { tasks: Record<string, { versions: Record<string, { args: Record<string, TSchema>; kwargs?: TObject; result: TSchema }> }> };
  const declared = exported.tasks[t.key]!.versions[String(v.version)]!;
  return {
    service: s.service,
    task: t.key,
    version: v.version,
    name: v.name,
    queue: v.queue,
    queueType: v.queueType,
    description: v.description ?? t.description,
    args: declared.args,
    ...(declared.kwargs ? { kwargs: declared.kwargs } : {}),
    result: declared.result,
  };
}

/** Every task version of the contracts, keyed by Celery task name (checked unique), for callers that look tasks up by name. */
export function taskCatalog(sources: readonly ContractSource[]): ReadonlyMap<string, TaskVersion> {
  const services = sources.map(readContract);
  assertUniqueTaskNames(services);
  assertConsistentQueueTypes(services);
  const catalog = new Map<string, TaskVersion>();
  for (const s of services) for (const t of s.tasks) for (const v of t.versions) catalog.set(v.name, versionOf(s, t, v));
  return catalog;
}
