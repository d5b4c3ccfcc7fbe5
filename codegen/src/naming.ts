import type { ServiceModel, TaskModel, VersionModel } from './model.js';

/** Every identifier the bindings of one service use, derived in one place so emitters agree. */

export function pascal(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** `image-resizer` -> `imageResizer` */
export function camelService(service: string): string {
  return service.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

export const names = {
  packageName: (s: ServiceModel) => s.packageName,
  /** The package's folder under the output directory, whatever its npm name. */
  packageDir: (s: ServiceModel) => `${s.service}-bindings`,
  clientInterface: (s: ServiceModel) => `${pascal(camelService(s.service))}Client`,
  clientFactory: (s: ServiceModel) => `create${pascal(camelService(s.service))}Client`,
  handlersInterface: (s: ServiceModel) => `${pascal(camelService(s.service))}Handlers`,
  bindHandlers: (s: ServiceModel) => `bind${pascal(camelService(s.service))}Handlers`,
  contractExport: (s: ServiceModel) => `${camelService(s.service)}Contract`,
  /** v1 keeps the task key (`sendToS3`), later versions add the number (`sendToS3V2`). */
  method: (t: TaskModel, v: VersionModel) => (v.version === 1 ? t.key : `${t.key}V${v.version}`),
  delegate: (t: TaskModel) => `delegate${pascal(t.key)}`,
  versionConst: (t: TaskModel, v: VersionModel) => `${t.key}V${v.version}`,
  spec: (t: TaskModel, v: VersionModel) => `${t.key}V${v.version}Task`,
  argsType: (t: TaskModel, v: VersionModel) => `${pascal(t.key)}V${v.version}Args`,
  kwargsType: (t: TaskModel, v: VersionModel) => `${pascal(t.key)}V${v.version}Kwargs`,
  resultType: (t: TaskModel, v: VersionModel) => `${pascal(t.key)}V${v.version}Result`,
  callsType: (t: TaskModel) => `${pascal(t.key)}Calls`,
  resultsType: (t: TaskModel) => `${pascal(t.key)}Results`,
};
