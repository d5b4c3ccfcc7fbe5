import { hostname } from 'node:os';
import { createContext, Script, type Context } from 'node:vm';
import { parseJson } from '../celery/json.js';
import { TaskbusError } from '../errors.js';

/**
 * Celery's remote control over RabbitMQ, as kombu/pidbox.py (Mailbox, Node) and celery/app/control.py set it up
 * with the default `control_exchange` "celery": requests go to the fanout exchange `celery.pidbox`, each node
 * consumes its own queue `<node>.celery.pidbox`, replies go to the direct exchange `reply.celery.pidbox` with
 * the routing key the request names. Both exchanges are transient (durable false), as kombu declares them.
 */
export const CONTROL_EXCHANGE = 'celery.pidbox';
export const REPLY_EXCHANGE = 'reply.celery.pidbox';
/** `control_queue_ttl` (300 s) and `control_queue_expires` (10 s), Celery's defaults, in ms as RabbitMQ takes them. */
export const CONTROL_QUEUE_ARGUMENTS: Readonly<Record<string, number>> = { 'x-message-ttl': 300_000, 'x-expires': 10_000 };

export const nodeQueue = (node: string): string => `${node}.celery.pidbox`;
export const replyQueue = (oid: string): string => `${oid}.${REPLY_EXCHANGE}`;

/** The node name a worker answers as: `%h` is the host name; the default is unique per process (and per worker in it). */
let workersInProcess = 0;
export function nodeName(name?: string): string {
  if (name !== undefined) {
    const node = name.replaceAll('%h', hostname());
    // The queue name `<node>.celery.pidbox` must fit AMQP's 255 bytes; control characters would reach operators' terminals.
    if (node.trim() === '' || Buffer.byteLength(node) > 200 || /[\p{Cc}]/u.test(node)) {
      throw new TaskbusError('E_BAD_NODE_NAME', `worker name ${JSON.stringify(name)} is not usable as a Celery node name: give 1 to 200 bytes without control characters, e.g. "pusher@%h"`);
    }
    return node;
  }
  workersInProcess++;
  return `taskbus-${process.pid}${workersInProcess > 1 ? `-${workersInProcess}` : ''}@${hostname()}`;
}

/** One node's answer to a broadcast. */
export interface NodeReply {
  readonly node: string;
  readonly reply: unknown;
}

/** A request as kombu's Mailbox._publish writes it. */
export interface ControlRequest {
  readonly method: string;
  readonly arguments: Readonly<Record<string, unknown>>;
  readonly destination: readonly string[] | null;
  readonly pattern: string | null;
  readonly matcher: string | null;
  /** Present when the sender waits for replies. */
  readonly ticket?: string;
  readonly replyTo?: { readonly exchange: string; readonly routingKey: string };
}

/** Reads a request body; null when it is not one (not JSON, no method). */
export function decodeRequest(content: Buffer): ControlRequest | null {
  let body: unknown;
  try {
    body = parseJson(content.toString('utf8'));
  } catch {
    return null;
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  const b = body as Record<string, unknown>;
  if (typeof b['method'] !== 'string') return null;
  const args = b['arguments'];
  const dest = b['destination'];
  const replyTo = b['reply_to'] as { exchange?: unknown; routing_key?: unknown } | null | undefined;
  const hasReply = typeof replyTo === 'object' && replyTo !== null && typeof replyTo.exchange === 'string' && typeof replyTo.routing_key === 'string';
  return {
    method: b['method'],
    arguments: typeof args === 'object' && args !== null && !Array.isArray(args) ? (args as Record<string, unknown>) : {},
    destination: Array.isArray(dest) ? dest.filter((d): d is string => typeof d === 'string') : null,
    pattern: typeof b['pattern'] === 'string' ? b['pattern'] : null,
    matcher: typeof b['matcher'] === 'string' ? b['matcher'] : null,
    ...(typeof b['ticket'] === 'string' ? { ticket: b['ticket'] } : {}),
    ...(hasReply ? { replyTo: { exchange: replyTo.exchange as string, routingKey: replyTo.routing_key as string } } : {}),
  };
}

export function encodeRequest(r: ControlRequest): Buffer {
  return Buffer.from(
    encodeJson({
      method: r.method,
      arguments: r.arguments,
      destination: r.destination,
      pattern: r.pattern,
      matcher: r.matcher,
      ...(r.ticket !== undefined ? { ticket: r.ticket } : {}),
      ...(r.replyTo ? { reply_to: { exchange: r.replyTo.exchange, routing_key: r.replyTo.routingKey } } : {}),
    }),
    'utf8',
  );
}

/**
 * Whether a request is for this node (kombu Node.handle_message): a destination list must name it; else a
 * pattern with a matcher kombu registers (`glob`: fnmatch; `pcre`: re.match, anchored at the start only);
 * a matcher kombu does not know is not for anyone (kombu raises MatcherNotInstalled); else it is for everyone.
 */
export function isForNode(r: ControlRequest, node: string): boolean {
  if (r.destination && r.destination.length > 0) return r.destination.includes(node);
  if (r.pattern && r.matcher) {
    if (r.matcher === 'glob') return globMatch(r.pattern, node);
    if (r.matcher !== 'pcre') return false;
    try {
      return pcreMatch(r.pattern, node);
    } catch {
      return false; // not a pattern JavaScript reads, or it ran out of time
    }
  }
  return true;
}

/** Long enough for any sane pattern against a node name; a catastrophic one is cut off. */
const PCRE_TIMEOUT_MS = 50;
let pcre: { readonly script: Script; readonly context: Context } | undefined;

/**
 * re.match: anchored at the start (a sticky RegExp). Any sender may choose the pattern, and `(.*)*(.*)*X`
 * backtracks for hours (in Python's re as well): it runs under vm's watchdog, which interrupts a RegExp.
 * Rare (only `pcre` requests), so a watchdog per call is cheap enough (~0.1 ms).
 */
function pcreMatch(pattern: string, node: string): boolean {
  pcre ??= { script: new Script('re.test(node)'), context: createContext({}) };
  pcre.context['re'] = new RegExp(pattern, 'y');
  pcre.context['node'] = node;
  return pcre.script.runInContext(pcre.context, { timeout: PCRE_TIMEOUT_MS }) === true;
}

/** One character of a glob: `?`, a `[...]` set (ranges of code points), or itself. */
type GlobChar = { readonly any: true } | { readonly set: readonly (readonly [number, number])[]; readonly negate: boolean } | { readonly is: string };
const STAR = '*';

/**
 * Python's fnmatch (`*`, `?`, `[seq]`, `[!seq]`) without a regular expression: any sender may choose the
 * pattern, and `***...x` made a backtracking RegExp run for hours on the worker's event loop. Greedy with one
 * backtrack point, so at most (pattern length x name length) steps.
 */
function globMatch(pattern: string, name: string): boolean {
  const p = globTokens(pattern);
  const s = [...name];
  // Each non-star token takes one character: more of them than characters can never match (nor need walking).
  if (p.reduce((n, t) => (t === STAR ? n : n + 1), 0) > s.length) return false;
  let i = 0;
  let j = 0;
  let star = -1;
  let mark = 0;
  while (j < s.length) {
    const t = p[i];
    if (t === STAR) {
      star = i++;
      mark = j;
    } else if (t !== undefined && matchesChar(t, s[j]!)) {
      i++;
      j++;
    } else if (star >= 0) {
      i = star + 1;
      j = ++mark;
    } else return false;
  }
  while (p[i] === STAR) i++;
  return i === p.length;
}

function matchesChar(t: GlobChar, c: string): boolean {
  if ('any' in t) return true;
  if ('is' in t) return t.is === c;
  const code = c.codePointAt(0)!;
  return t.set.some(([lo, hi]) => code >= lo && code <= hi) !== t.negate;
}

/** The pattern as fnmatch.translate reads it; runs of `*` are one. */
function globTokens(pattern: string): (GlobChar | typeof STAR)[] {
  const c = [...pattern];
  const out: (GlobChar | typeof STAR)[] = [];
  for (let i = 0; i < c.length; i++) {
    const ch = c[i]!;
    if (ch === '*') {
      if (out.at(-1) !== STAR) out.push(STAR);
    } else if (ch === '?') out.push({ any: true });
    else if (ch === '[') {
      let j = i + 1;
      if (c[j] === '!') j++;
      if (c[j] === ']') j++;
      while (j < c.length && c[j] !== ']') j++;
      if (j >= c.length) {
        out.push({ is: '[' }); // no closing bracket: a plain `[`
        continue;
      }
      const negate = c[i + 1] === '!';
      const body = c.slice(i + (negate ? 2 : 1), j);
      const set: [number, number][] = [];
      for (let k = 0; k < body.length; k++) {
        const lo = body[k]!.codePointAt(0)!;
        if (body[k + 1] === '-' && k + 2 < body.length) {
          set.push([lo, body[k + 2]!.codePointAt(0)!]);
          k += 2;
        } else set.push([lo, lo]);
      }
      out.push({ set, negate });
      i = j;
    } else out.push({ is: ch });
  }
  return out;
}

/** A number Python must read as a float (LimitedSet.update refuses an int timestamp): JSON always with a fraction. */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** JSON.stringify, except that PyFloat values are written with a decimal point (2510 as 2510.0). */
export function encodeJson(value: unknown): string {
  if (value instanceof PyFloat) {
    const text = JSON.stringify(value.value);
    return /^-?\d+$/.test(text) ? `${text}.0` : text;
  }
  if (Array.isArray(value)) return `[${value.map((v) => encodeJson(v === undefined ? null : v)).join(',')}]`;
  if (typeof value === 'object' && value !== null && !(value instanceof Date) && !(value as { toJSON?: unknown }).toJSON) {
    const parts: string[] = [];
    for (const [k, v] of Object.entries(value)) if (v !== undefined) parts.push(`${JSON.stringify(k)}:${encodeJson(v)}`);
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** kombu's LamportClock: adjusted to every clock seen, forwarded on every message sent. */
export class LamportClock {
  value = 0;

  adjust(other: unknown): void {
    // Bounded: a clock past 2^63 (any sender may write 1e300) cannot go out as an AMQP long, and every reply
    // after it would fail.
    if (typeof other === 'number' && Math.abs(other) <= Number.MAX_SAFE_INTEGER) this.value = Math.max(this.value, Math.floor(other)) + 1;
  }

  forward(): number {
    return ++this.value;
  }
}
