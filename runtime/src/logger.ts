import { TaskbusError } from './errors.js';
import { formatJson, formatText, type LogLevel, type LogRecord } from './log-format.js';
import { redactUrls, secretsOf } from './redact.js';
import { currentTraceId } from './trace-id.js';

export type { LogLevel } from './log-format.js';

export type LogFields = Readonly<Record<string, unknown>>;

/**
 * Where the runtime reports what happens; pass your own to route lines into your logging stack. Task lines
 * carry `task` (Celery name) and `id` (task id) fields. `debug` is optional: the runtime calls it as `debug?.()`.
 */
export interface Logger {
  debug?(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export type LogFormat = 'text' | 'json';

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

export interface LoggerOptions {
  /** Shown on every line (`[name]` in text, `"logger"` in JSON). */
  readonly name?: string;
  /** `text` (default): `[name] LEVEL message key=value`; `json`: one JSON object per line. */
  readonly format?: LogFormat;
  /** Lines below this level are dropped (default info). */
  readonly level?: LogLevel;
  /**
   * Strings to hide wherever they appear (passwords of the broker URL, say); URL credentials are hidden
   * anyway. The runtime's default loggers pass the credentials of the broker URL.
   */
  readonly secrets?: readonly string[];
  /**
   * Fields added to every line, read when the line is written: the hook for trace context, e.g.
   * `() => ({ trace_id, span_id })` of the active span. Fields given to the call win over these.
   */
  readonly context?: () => LogFields | undefined;
  /** Where lines go (default process.stderr). */
  readonly write?: (line: string) => void;
}

/** LOG_LEVEL or LOG_FORMAT holds a value taskbus does not know. */
export class LogConfigError extends TaskbusError {
  constructor(variable: string, value: string, allowed: readonly string[]) {
    super('E_LOG_CONFIG', `${variable} must be one of ${allowed.join(', ')}; got "${redactUrls(value)}"`);
  }
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const drop = (): void => undefined;

/** A logger writing one line per event, text or JSON, secrets redacted, below `level` dropped at no cost. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const name = options.name ?? 'taskbus';
  const min = RANK[options.level ?? 'info'];
  const secrets = [...(options.secrets ?? [])].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  const format = options.format === 'json' ? formatJson : formatText;
  const write = options.write ?? ((line: string) => void process.stderr.write(line));
  const context = options.context;
  const at = (level: LogLevel) =>
    RANK[level] < min
      ? drop
      : (message: string, fields?: LogFields) => {
          const extra = context?.();
          const all = extra ? { ...extra, ...fields } : fields;
          const record: LogRecord = { time: new Date(), level, name, message, fields: all };
          write(format(record, secrets));
        };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** Plain one-line-per-event text logger writing to stderr; `minLevel: 'warn'` drops the per-task lines. */
export function createStderrLogger(name = 'taskbus', minLevel: LogLevel = 'info'): Logger {
  return createLogger({ name, level: minLevel });
}

/**
 * The logger the environment asks for: `LOG_FORMAT` (text, json; default text) and `LOG_LEVEL` (debug,
 * info, warn, error; default info), case-insensitive. Any other value is a LogConfigError, so a typo
 * does not silently log everything or nothing.
 */
export function loggerFromEnv(name: string, options: Omit<LoggerOptions, 'name' | 'format' | 'level'> = {}, env: Readonly<Record<string, string | undefined>> = process.env): Logger {
  return createLogger({ ...options, name, format: pick(env, 'LOG_FORMAT', LOG_FORMATS, 'text'), level: pick(env, 'LOG_LEVEL', LOG_LEVELS, 'info') });
}

function pick<T extends string>(env: Readonly<Record<string, string | undefined>>, variable: string, allowed: readonly T[], fallback: T): T {
  const raw = env[variable]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const value = allowed.find((a) => a === raw.toLowerCase());
  if (!value) throw new LogConfigError(variable, raw, allowed);
  return value;
}

/**
 * The logger a worker or client uses when given none: as the environment asks (loggerFromEnv), with the
 * credentials of its broker URL (or URL list) hidden in every form they may take in text.
 */
export function runtimeLogger(name: string, url: string | undefined): Logger {
  let secrets: readonly string[] = [];
  try {
    secrets = secretsOf(url ?? process.env['AMQP_URL'] ?? '');
  } catch {
    // A URL whose text cannot be percent-encoded (a lone surrogate): start() refuses it; URL credentials are still hidden.
  }
  return loggerFromEnv(name, { secrets, context: traceFields });
}

/** The active trace's id on every line written inside a traced task run or send (none without an SDK). */
function traceFields(): LogFields | undefined {
  const traceId = currentTraceId();
  return traceId === undefined ? undefined : { trace_id: traceId };
}

/** Logger that drops everything (tests, embedding). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
