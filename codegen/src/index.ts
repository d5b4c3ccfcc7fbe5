export { diffTree, isClean, type FoundFile, type TreeDiff } from './check.js';
export { assertVersionBumps, compareContracts, describeChange, type Bump, type Change, type ServiceVerdict } from './compat.js';
export type { GenerateOptions } from './context.js';
export { ContractDefinitionError, ContractSourceError, UsageError, VersionTooLowError, type ContractDiagnostic, type VersionProblem } from './errors.js';
export { generate, type GeneratedFiles } from './generate.js';
export type { ContractSource } from './model.js';
export { loadContracts, readGenerated, readPreviousBindings, writeGenerated } from './files.js';
export { runCheck, type CheckOptions } from './run-check.js';
