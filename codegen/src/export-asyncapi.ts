import { taskExchangeType, taskQueueArguments, type QueueType } from '@taskbus/runtime/queues';
import { argsSchema, kwargsSchema, resultSchema, tuple } from './export-jsonschema.js';
import { readServices } from './generate.js';
import { jsonFile, type JsonObject } from './json.js';
import type { ContractSource, ServiceModel, TaskModel, VersionModel } from './model.js';

/** Options of one AsyncAPI export. */
export interface AsyncApiOptions {
  /** The broker the document names, without credentials; default `amqp://localhost:5672`. */
  readonly server?: AsyncApiServer;
}

export interface AsyncApiServer {
  readonly protocol: 'amqp' | 'amqps';
  /** `host:port`, never `user:password@host`. */
  readonly host: string;
  /** The vhost as a URL path, e.g. `/prod`; omitted for the default vhost. */
  readonly pathname?: string;
}

const KNOWN_OPTIONS = new Set(['server']);
const AMQP_BINDING = '0.3.0';
const REPLIES = 'replies';
/** Celery's rpc:// backend states; only SUCCESS carries the task's result, FAILURE and REVOKED an exception. */
const STATES = ['PENDING', 'RECEIVED', 'STARTED', 'RETRY', 'SUCCESS', 'FAILURE', 'REVOKED'];
const NULLABLE_STRING = { type: ['string', 'null'] };
const NULLABLE_INT = { type: ['integer', 'null'] };

/** Canvas fields (callbacks, chains, chords): taskbus sends them empty and ignores them, as Celery allows. */
const EMBED: JsonObject = {
  type: 'object',
  description: 'Celery canvas options; taskbus sends every field null and ignores them on receipt',
  properties: {
    callbacks: { type: ['array', 'null'] },
    errbacks: { type: ['array', 'null'] },
    chain: { type: ['array', 'null'] },
    chord: { type: ['object', 'null'] },
  },
};

/** How Celery serialises an exception into a FAILURE or REVOKED reply. */
const EXCEPTION: JsonObject = {
  type: 'object',
  required: ['exc_type', 'exc_message'],
  properties: { exc_type: { type: 'string' }, exc_message: { type: 'array' }, exc_module: NULLABLE_STRING },
};

/**
 * All contracts as one AsyncAPI 3.0 document (JSON text): a channel per queue with one message per task
 * version (Celery protocol v2 headers and `[args, kwargs, embed]` body), a reply channel with each version's
 * rpc:// result message, a `send` operation per version and a `receive` for the replies.
 * Pure and deterministic: sorted keys, no dates.
 */
export function exportAsyncApi(sources: readonly ContractSource[], options: AsyncApiOptions = {}): string {
  const server = resolveServer(options);
  const services = readServices(sources);
  const channels: Record<string, { address: string; queueType: QueueType; messages: Record<string, JsonObject> }> = {};
  const replies: Record<string, JsonObject> = {};
  const operations: Record<string, JsonObject> = {};
  for (const s of services) {
    for (const t of s.tasks) {
      for (const v of t.versions) {
        const channel = `queue.${v.queue}`;
        (channels[channel] ??= { address: v.queue, queueType: v.queueType, messages: {} }).messages[v.name] = taskMessage(s, t, v);
        const reply = `${v.name}.result`;
        replies[reply] = resultMessage(s, v);
        operations[`send.${v.name}`] = {
          action: 'send',
          channel: ref('channels', channel),
          messages: [ref('channels', channel, 'messages', v.name)],
          title: `${s.service} ${t.key} v${v.version}`,
          ...about(t, v),
          tags: [{ name: s.service }],
          bindings: { amqp: { deliveryMode: 2, mandatory: true, bindingVersion: AMQP_BINDING } },
          reply: { channel: ref('channels', REPLIES), messages: [ref('channels', REPLIES, 'messages', reply)] },
          // AsyncAPI 3.0 has no `deprecated` on operations (only on messages and schemas).
          ...(v.deprecated ? { 'x-deprecated': true } : {}),
        };
      }
    }
  }
  operations[`receive.${REPLIES}`] = {
    action: 'receive',
    channel: ref('channels', REPLIES),
    messages: Object.keys(replies).sort().map((id) => ref('channels', REPLIES, 'messages', id)),
    title: 'task results',
    summary: "Results of tasks sent with a reply_to, as Celery's rpc:// backend publishes them",
  };

  const doc: JsonObject = {
    asyncapi: '3.0.0',
    info: {
      title: 'taskbus',
      // One service: its contract version; several: each named, since no single version covers them.
      version: services.length === 1 ? services[0]!.version : services.map((s) => `${s.service}@${s.version}`).join(', '),
      description: `Celery protocol v2 tasks (JSON) of ${services.map((s) => s.service).join(', ')}, from their taskbus contracts.`,
      'x-taskbus-services': Object.fromEntries(
        services.map((s) => [
          s.service,
          { version: s.version, package: s.packageName, queue: s.queue, queueType: s.queueType, ...(s.description ? { description: s.description } : {}) },
        ]),
      ),
    },
    defaultContentType: 'application/json',
    servers: { broker: { ...server, description: 'RabbitMQ' } },
    channels: {
      ...Object.fromEntries(Object.entries(channels).map(([id, c]) => [id, queueChannel(c.address, c.queueType, c.messages)])),
      [REPLIES]: {
        // null: each caller names its own reply queue in the task's reply_to property.
        address: null,
        title: 'reply queues',
        description: "The caller's reply_to queue (durable, not auto-delete, x-expires one day), as Celery's rpc:// backend uses it",
        messages: replies,
      },
    },
    operations,
    components: {
      correlationIds: {
        taskId: { location: '$message.header#/correlation_id', description: 'The AMQP correlation_id property: the task id, on the task and on its reply' },
      },
    },
  };
  return jsonFile(doc);
}

function resolveServer(options: AsyncApiOptions): AsyncApiServer {
  for (const key of Object.keys(options)) if (!KNOWN_OPTIONS.has(key)) throw new TypeError(`unknown exportAsyncApi option "${key}"`);
  const server = options.server ?? { protocol: 'amqp', host: 'localhost:5672' };
  // A document is shared with other teams and tools: it must never carry a password.
  if (server.host.includes('@')) throw new TypeError('the AsyncAPI server host must be host:port, without credentials');
  return server;
}

function ref(...path: string[]): JsonObject {
  // JSON Pointer escapes; queue and task names never hold `/` or `~`, but a pointer must not depend on that.
  return { $ref: `#/${path.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/')}` };
}

function about(t: TaskModel, v: VersionModel): JsonObject {
  const description = v.description ?? t.description;
  const deprecated = v.deprecated ? `Deprecated${v.deprecated.note ? `: ${v.deprecated.note}` : ''}.` : null;
  const text = [description, deprecated].filter((x) => x !== null).join(' ');
  return text ? { description: text } : {};
}

/**
 * The queue as taskbus creates it and Celery declares it: durable, of the contract's type (with the runtime's
 * arguments for quorum), with an exchange of the same name (direct, or topic for quorum) bound by that name.
 */
function queueChannel(queue: string, queueType: QueueType, messages: Record<string, JsonObject>): JsonObject {
  const args = taskQueueArguments(queue, queueType);
  return {
    address: queue,
    title: queue,
    messages,
    bindings: {
      amqp: {
        is: 'queue',
        queue: {
          name: queue,
          durable: true,
          exclusive: false,
          autoDelete: false,
          // The binding has no field for a queue's arguments; a declaration with other ones is refused (406).
          'x-queue-type': queueType,
          ...(Object.keys(args).length > 0 ? { 'x-arguments': args as JsonObject } : {}),
        },
        // The binding cannot describe a queue and an exchange at once; Celery declares both.
        'x-exchange': { name: queue, type: taskExchangeType(queueType), durable: true, autoDelete: false, routingKey: queue },
        bindingVersion: AMQP_BINDING,
      },
    },
  };
}

function taskMessage(s: ServiceModel, t: TaskModel, v: VersionModel): JsonObject {
  return {
    name: v.name,
    title: `${s.service} ${t.key} v${v.version}`,
    ...about(t, v),
    contentType: 'application/json',
    correlationId: ref('components', 'correlationIds', 'taskId'),
    headers: headers(v.name),
    payload: {
      ...tuple([argsSchema(v, 'draft-07'), kwargsSchema(v, 'draft-07'), EMBED], 'draft-07'),
      description: 'Celery protocol v2 body: [args, kwargs, embed]',
    },
    bindings: { amqp: { contentEncoding: 'utf-8', bindingVersion: AMQP_BINDING } },
    tags: [{ name: s.service }],
    'x-taskbus': { service: s.service, task: t.key, version: v.version, queue: v.queue, queueType: v.queueType },
    ...(v.deprecated ? { deprecated: true } : {}),
  };
}

/** Celery protocol v2 task headers; other headers may come along and are ignored. */
function headers(name: string): JsonObject {
  return {
    type: 'object',
    required: ['task', 'id'],
    properties: {
      lang: { type: 'string', description: "'py', also from taskbus" },
      task: { type: 'string', const: name },
      id: { type: 'string', description: 'task id, also the correlation_id property' },
      root_id: NULLABLE_STRING,
      parent_id: NULLABLE_STRING,
      group: NULLABLE_STRING,
      group_index: NULLABLE_INT,
      retries: { type: 'integer', minimum: 0 },
      eta: { ...NULLABLE_STRING, format: 'date-time' },
      expires: { ...NULLABLE_STRING, format: 'date-time' },
      timelimit: { ...tuple([NULLABLE_INT, NULLABLE_INT], 'draft-07'), description: '[hard, soft] seconds' },
      argsrepr: NULLABLE_STRING,
      kwargsrepr: NULLABLE_STRING,
      origin: NULLABLE_STRING,
      ignore_result: { type: 'boolean' },
      shadow: NULLABLE_STRING,
    },
  };
}

/** A reply of Celery's rpc:// backend: the version's result on SUCCESS, an exception on FAILURE or REVOKED. */
function resultMessage(s: ServiceModel, v: VersionModel): JsonObject {
  const status = (...states: string[]) => ({ properties: { status: { enum: states } } });
  return {
    name: `${v.name}.result`,
    title: `${v.name} result`,
    contentType: 'application/json',
    correlationId: ref('components', 'correlationIds', 'taskId'),
    payload: {
      type: 'object',
      required: ['task_id', 'status', 'result', 'traceback', 'children'],
      properties: {
        task_id: { type: 'string' },
        status: { type: 'string', enum: STATES },
        result: {},
        traceback: NULLABLE_STRING,
        children: { type: 'array' },
      },
      allOf: [
        { if: status('SUCCESS'), then: { properties: { result: resultSchema(v, 'draft-07') } } },
        { if: status('FAILURE', 'REVOKED'), then: { properties: { result: EXCEPTION } } },
      ],
    },
    bindings: { amqp: { contentEncoding: 'utf-8', bindingVersion: AMQP_BINDING } },
    tags: [{ name: s.service }],
    ...(v.deprecated ? { deprecated: true } : {}),
  };
}
