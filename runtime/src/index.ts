// Public types use Buffer: kept in the declarations (preserve) so a consumer's `types: []` still finds Node's.
/// <reference types="node" preserve="true" />
export { parseBrokerList, splitBrokerList, type BrokerUrl } from './broker-url.js';
export { connectClient, type ClientOptions, type SentTask, type TaskClient } from './client.js';
export {
  DEFAULT_AMQP_URL,
  safeUrl,
  type BackoffOptions,
  type ConnectOptions,
  type ReconnectOptions,
  type TlsOptions,
} from './connect-options.js';
export type { CallOptions, TaskMessage } from './celery/message.js';
export {
  BadUrlError,
  BrokerAccessRefusedError,
  BrokerTlsError,
  BrokerUnreachableError,
  BufferFullError,
  ClosedError,
  ContractValidationError,
  PayloadTooLargeError,
  PublishError,
  PublishTimeoutError,
  RemoteTaskError,
  ResultTimeoutError,
  ResultUnavailableError,
  type ResultUnavailableReason,
  SetupInterruptedError,
  TaskbusError,
  TopologyError,
  UnknownVersionError,
  type UnreachableBroker,
  type ValidationIssue,
} from './errors.js';
export {
  INSPECT_COMMANDS,
  NoReplyError,
  openControl,
  type ControlCallOptions,
  type ControlClient,
  type InspectCommand,
  type NodeReply,
} from './control/client.js';
export {
  createLogger,
  createStderrLogger,
  LOG_FORMATS,
  LOG_LEVELS,
  LogConfigError,
  loggerFromEnv,
  silentLogger,
  type LogFields,
  type LogFormat,
  type Logger,
  type LoggerOptions,
  type LogLevel,
} from './logger.js';
export {
  DeadLetterAccessError,
  DeadLetterQueueError,
  NoDeadLetterQueueError,
  openDeadLetters,
  ReplayUnroutableError,
  type DeadLetter,
  type DeadLetters,
  type ReplayReport,
} from './dlq.js';
export type { MetricsOptions, WorkerMetricsOptions } from './metrics/options.js';
export { MetricsConfigError, MetricsServerError } from './metrics/errors.js';
export { serveMetrics, type MetricsServer, type MetricsServerOptions } from './metrics/server.js';
export { countQueues, QueueCountError, type QueueCount } from './queue-counts.js';
export { runWorker } from './signals.js';
export { DEFAULT_DELIVERY_LIMIT, QUEUE_TYPES, taskExchangeType, taskQueueArguments, type QueueType } from './topology/queue-type.js';
export { defineTask, untypedTask, type RetryPolicy, type TaskDefinition, type TaskSpec } from './task.js';
export { SoftTimeLimitExceeded, TimeLimitExceeded } from './worker/time-limits.js';
export { createWorker, type DeadLetterReason, type TaskContext, type TaskHandler, type Worker, type WorkerOptions } from './worker.js';
export { currentTraceId } from './trace-id.js';
