export { connectClient, type ClientOptions, type SentTask, type TaskClient } from './client.js';
export { DEFAULT_AMQP_URL, safeUrl, type ConnectOptions } from './connection.js';
export type { CallOptions, TaskMessage } from './celery/message.js';
export {
  BrokerAccessRefusedError,
  BrokerUnreachableError,
  ClosedError,
  ContractValidationError,
  PublishError,
  RemoteTaskError,
  ResultTimeoutError,
  TaskbusError,
  TopologyError,
  UnknownVersionError,
  type ValidationIssue,
} from './errors.js';
export { createStderrLogger, silentLogger, type Logger } from './logger.js';
export { runWorker } from './signals.js';
export { defineTask, untypedTask, type TaskDefinition, type TaskSpec } from './task.js';
export { createWorker, type TaskContext, type TaskHandler, type Worker, type WorkerOptions } from './worker.js';
