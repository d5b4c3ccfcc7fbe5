import { ForbiddenKeyError, parseJson } from './json.js';
import type { RawDelivery } from './decode.js';

/** Celery task states that travel in rpc replies. Only SUCCESS, FAILURE and REVOKED are final. */
export type TaskState = 'PENDING' | 'RECEIVED' | 'STARTED' | 'RETRY' | 'SUCCESS' | 'FAILURE' | 'REVOKED';

export const FINAL_STATES: ReadonlySet<TaskState> = new Set(['SUCCESS', 'FAILURE', 'REVOKED']);

/** A reply of Celery's rpc:// result backend. */
export interface ResultMessage {
  readonly taskId: string;
  readonly status: TaskState;
  readonly result: unknown;
  readonly traceback: string | null;
  readonly children: readonly unknown[];
}

/** How Celery serialises an exception in a FAILURE or REVOKED result (what a Python client needs to raise it). */
export interface ExceptionInfo {
  readonly exc_type: string;
  readonly exc_message: readonly unknown[];
  readonly exc_module: string | null;
}

export interface EncodedResult {
  readonly content: Buffer;
  readonly properties: {
    readonly contentType: 'application/json';
    readonly contentEncoding: 'utf-8';
    readonly correlationId: string;
    readonly persistent: false;
  };
}

/** Encodes a reply exactly as Celery 5.2's rpc backend publishes it to the caller's reply_to queue. */
export function encodeResult(r: Omit<ResultMessage, 'children'>): EncodedResult {
  const body = { task_id: r.taskId, status: r.status, result: r.result, traceback: r.traceback, children: [] };
  return {
    content: Buffer.from(JSON.stringify(body), 'utf8'),
    properties: { contentType: 'application/json', contentEncoding: 'utf-8', correlationId: r.taskId, persistent: false },
  };
}

const STATES: ReadonlySet<string> = new Set(['PENDING', 'RECEIVED', 'STARTED', 'RETRY', 'SUCCESS', 'FAILURE', 'REVOKED']);

export type DecodedResult = { readonly ok: true; readonly message: ResultMessage } | { readonly ok: false; readonly detail: string };

/** Decodes an rpc reply; JSON only, like tasks. */
export function decodeResult(d: RawDelivery): DecodedResult {
  const mime = (d.properties.contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (mime !== 'application/json') return { ok: false, detail: `reply content type "${d.properties.contentType ?? ''}" is not application/json` };
  let body: unknown;
  try {
    body = parseJson(new TextDecoder('utf-8', { fatal: true }).decode(d.content));
  } catch (e) {
    return { ok: false, detail: e instanceof ForbiddenKeyError ? e.message : 'reply body is not valid UTF-8 JSON' };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, detail: 'reply body is not an object' };
  const b = body as Record<string, unknown>;
  const taskId = typeof b['task_id'] === 'string' ? b['task_id'] : d.properties.correlationId;
  const status = b['status'];
  if (typeof taskId !== 'string' || typeof status !== 'string' || !STATES.has(status)) {
    return { ok: false, detail: 'reply lacks task_id or a known status' };
  }
  return {
    ok: true,
    message: {
      taskId,
      status: status as TaskState,
      result: b['result'] ?? null,
      traceback: typeof b['traceback'] === 'string' ? b['traceback'] : null,
      children: Array.isArray(b['children']) ? b['children'] : [],
    },
  };
}

/** Python's built-in exceptions a JavaScript error maps onto by name; others travel under their own name. */
const PYTHON_BUILTINS = new Set(['TypeError', 'ValueError', 'KeyError', 'IndexError', 'RuntimeError', 'NotImplementedError', 'TimeoutError']);

/** Celery's time-limit exceptions live in billiard (celery.exceptions re-exports them); Celery workers name that module. */
const BILLIARD = new Set(['SoftTimeLimitExceeded', 'TimeLimitExceeded']);

/** Serialises an error the way Celery serialises an exception, so a Python caller can raise it. */
export function exceptionInfo(type: string, message: string, module?: string | null): ExceptionInfo {
  const mod = module !== undefined ? module : PYTHON_BUILTINS.has(type) ? 'builtins' : BILLIARD.has(type) ? 'billiard.exceptions' : null;
  return { exc_type: type, exc_message: [message], exc_module: mod };
}

/** Reads an exception out of a FAILURE/REVOKED result, whatever shape the sender used. */
export function readException(result: unknown): { type: string; message: string; module: string | null } {
  if (typeof result === 'object' && result !== null && typeof (result as ExceptionInfo).exc_type === 'string') {
    const e = result as ExceptionInfo;
    const msg = Array.isArray(e.exc_message) ? e.exc_message.map(String).join(', ') : String(e.exc_message ?? '');
    return { type: e.exc_type, message: msg, module: typeof e.exc_module === 'string' ? e.exc_module : null };
  }
  return { type: 'Exception', message: typeof result === 'string' ? result : JSON.stringify(result), module: null };
}
