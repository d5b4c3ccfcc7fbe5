import { INSPECT_COMMANDS, NoReplyError, openControl, type ControlClient, type InspectCommand, type NodeReply } from '@taskbus/runtime';
import { UsageError } from './errors.js';
import { printable, terminalJson } from './terminal.js';

export interface ControlCommandOptions {
  readonly timeout: string;
  readonly json?: boolean;
  /** Comma-separated node names. */
  readonly destination?: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const list = (items: readonly unknown[], max = 20) => items.slice(0, max).map(String).join(', ') + (items.length > max ? `, … (${items.length - max} more)` : '');

/** One worker's reply in one line, for the terminal; anything unexpected is shown as JSON. */
export function describeReply(command: string, reply: unknown): string {
  if (isObject(reply) && typeof reply['error'] === 'string') return `error: ${reply['error']}`;
  if (isObject(reply) && typeof reply['ok'] === 'string' && Object.keys(reply).length === 1) return reply['ok'];
  switch (command) {
    case 'registered':
      if (Array.isArray(reply)) return `${plural(reply.length, 'task')}${reply.length ? ': ' + list(reply, 50) : ''}`;
      break;
    case 'active':
      if (Array.isArray(reply)) {
        const now = Date.now() / 1000;
        const each = reply.map((t) => (isObject(t) ? `${String(t['name'])}[${String(t['id'])}]${typeof t['time_start'] === 'number' ? ` ${Math.max(0, Math.round(now - t['time_start']))}s` : ''}` : JSON.stringify(t)));
        return `${plural(reply.length, 'task')} running${each.length ? ': ' + list(each) : ''}`;
      }
      break;
    case 'active_queues':
      if (Array.isArray(reply)) return `${plural(reply.length, 'queue')}${reply.length ? ': ' + list(reply.map((q) => (isObject(q) ? q['name'] : q))) : ''}`;
      break;
    case 'revoked':
      if (Array.isArray(reply)) return `${plural(reply.length, 'revoked task')}${reply.length ? ': ' + list(reply) : ''}`;
      break;
    case 'clock':
      if (isObject(reply)) return `clock ${String(reply['clock'])}`;
      break;
    case 'stats':
      if (isObject(reply)) return describeStats(reply);
      break;
  }
  return JSON.stringify(reply);
}

function describeStats(s: Record<string, unknown>): string {
  const parts: string[] = [];
  const ident = typeof s['sw_ident'] === 'string' ? `${s['sw_ident']} ${String(s['sw_ver'] ?? '')}`.trim() : 'celery';
  parts.push(ident);
  if (s['pid'] !== undefined) parts.push(`pid ${String(s['pid'])}`);
  if (typeof s['uptime'] === 'number') parts.push(`up ${s['uptime']} s`);
  const pool = s['pool'];
  if (isObject(pool)) parts.push(`concurrency ${String(pool['max-concurrency'] ?? '?')}`);
  const total = s['total'];
  if (isObject(total)) {
    const counts = Object.entries(total).map(([name, n]) => `${name} ${String(n)}`);
    const sum = Object.values(total).reduce<number>((a, n) => a + (typeof n === 'number' ? n : 0), 0);
    parts.push(`${plural(sum, 'task')} run${counts.length ? ` (${list(counts, 10)})` : ''}`);
  }
  const b = s['broker'];
  if (isObject(b)) parts.push(`broker ${String(b['transport'] ?? 'amqp')}://${String(b['userid'] ?? '')}@${String(b['hostname'] ?? '')}:${String(b['port'] ?? '')}/${String(b['virtual_host'] ?? '')}`);
  return parts.join(', ');
}

/** The lines to print for a set of replies: one per worker, then a count (text), or one JSON object per worker. */
export function formatReplies(command: string, replies: readonly NodeReply[], json: boolean): string[] {
  if (json) return replies.map((r) => terminalJson({ node: r.node, reply: r.reply }));
  const lines = replies.map((r) => printable(`${r.node}: ${describeReply(command, r.reply)}`));
  lines.push(command === 'revoke' ? `${plural(replies.length, 'worker')} acknowledged the revoke.` : `${plural(replies.length, 'node')} online.`);
  return lines;
}

export function parseTimeout(text: string): number {
  const ms = Number(text);
  if (!Number.isFinite(ms) || ms <= 0 || ms > 600_000) throw new UsageError(`--timeout must be a number of milliseconds between 1 and 600000, got ${text}`);
  return ms;
}

function callOptions(o: ControlCommandOptions) {
  const destination = o.destination?.split(',').map((d) => d.trim()).filter(Boolean);
  return { timeoutMs: parseTimeout(o.timeout), ...(destination && destination.length > 0 ? { destination } : {}) };
}

async function withControl<T>(run: (c: ControlClient) => Promise<T>): Promise<T> {
  const control = await openControl();
  try {
    return await run(control);
  } finally {
    await control.close();
  }
}

/** `taskbus inspect <command>`: asks every worker, Python or TypeScript, and prints one line per worker. */
export async function inspectCommand(command: string, o: ControlCommandOptions, print: (line: string) => void): Promise<void> {
  if (!(INSPECT_COMMANDS as readonly string[]).includes(command)) throw new UsageError(`unknown inspect command "${command}"; use ${INSPECT_COMMANDS.join(', ')}`);
  const options = callOptions(o);
  const replies = await withControl((c) => c.inspect(command as InspectCommand, options));
  if (replies.length === 0) throw new NoReplyError(command, options.timeoutMs);
  for (const line of formatReplies(command, replies, o.json === true)) print(line);
}

/** `taskbus revoke <id...>`: every worker refuses these tasks if they have not started. */
export async function revokeCommand(ids: readonly string[], o: ControlCommandOptions, print: (line: string) => void): Promise<void> {
  if (ids.length === 0) throw new UsageError('revoke needs at least one task id');
  const options = callOptions(o);
  const replies = await withControl((c) => c.revoke(ids, options));
  // Sent either way; with no worker up, none remembers it, and a worker started later cannot learn it.
  if (replies.length === 0) throw new NoReplyError('revoke', options.timeoutMs);
  for (const line of formatReplies('revoke', replies, o.json === true)) print(line);
}
