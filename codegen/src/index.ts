export { diffTree, isClean, type FoundFile, type TreeDiff } from './check.js';
export type { GenerateOptions } from './context.js';
export { ContractDefinitionError, ContractSourceError, UsageError, type ContractDiagnostic } from './errors.js';
export { generate, type GeneratedFiles } from './generate.js';
export type { ContractSource } from './model.js';
export { loadContracts, readGenerated, writeGenerated } from './files.js';
