import { existsSync } from 'node:fs';
import { taskCatalog } from '@taskbus/codegen';
import { countQueues, DEFAULT_AMQP_URL, parseBrokerList, type QueueCount } from '@taskbus/runtime';
import type { Command } from 'commander';
import { UsageError } from './errors.js';
import { loadContracts } from './files.js';
import { helpText } from './help.js';
import { printable, terminalJson } from './terminal.js';

/** One line of `taskbus inspect queues`. Counts are null where unknown (unacked, without the management plugin). */
export interface QueueRow {
  readonly queue: string;
  /** `missing`: no such queue (never created by looking); `refused`: the user may not look at it. */
  readonly state: 'ok' | 'missing' | 'refused';
  readonly ready: number | null;
  readonly unacked: number | null;
  readonly consumers: number | null;
  /** Messages ready in `<queue>.dlq`; null when it does not exist (nothing was ever dead-lettered). */
  readonly dlq: number | null;
}

export interface QueuesReport {
  /** Where the counts come from: the management plugin's HTTP API, or passive declares over AMQP. */
  readonly source: 'management' | 'amqp';
  /** With `rates` asked for and the management API answering, each existing queue's rates too. */
  readonly queues: readonly RatedQueueRow[];
}

/**
 * Messages per second, as the management API averages them (`message_stats.*_details.rate`); null where it has no
 * figure (a queue nothing was published to or delivered from yet has no `message_stats`).
 */
export interface QueueRates {
  readonly publish: number | null;
  /** Deliveries to consumers and basic.get, acked or not. */
  readonly deliver: number | null;
  readonly ack: number | null;
}

/** A queue as the management API's `/api/queues/<vhost>` lists it (only the fields used here). */
export interface ManagementQueue {
  readonly name: string;
  readonly messages_ready?: number;
  readonly messages_unacknowledged?: number;
  readonly consumers?: number;
  /** Only when the endpoint asks for them (`taskbus ui`; `inspect queues` leaves them out). */
  readonly rates?: QueueRates;
}

/** A row with the management API's rates (`taskbus ui`'s; `inspect queues --json` keeps to QueueRow). */
export interface RatedQueueRow extends QueueRow {
  readonly rates?: QueueRates;
}

/** Where to ask the management API, and how to log in; never printed (the header holds the password). */
export interface ManagementEndpoint {
  readonly url: URL;
  readonly authorization: string | null;
  /** Whether the queues' message rates are asked for (and read). */
  readonly rates?: boolean;
}

export const MANAGEMENT_ENV = 'TASKBUS_MANAGEMENT_URL';
const DLQ_SUFFIX = '.dlq';
const MANAGEMENT_TIMEOUT_MS = 3000;

/**
 * The management API's queue list for the AMQP URL's vhost: at `base` (`--management` or TASKBUS_MANAGEMENT_URL,
 * which may carry a path prefix), else the broker's host on port 15672 (15671, https, for amqps). Credentials:
 * the base URL's own, else the AMQP URL's (the first of a list).
 */
export function managementEndpoint(amqpUrl: string, base?: string, { rates = false } = {}): ManagementEndpoint {
  const broker = parseBrokerList(amqpUrl)[0]!.url;
  const vhost = broker.pathname.length > 1 ? decodeURIComponent(broker.pathname.slice(1)) : '/';
  let root: URL;
  try {
    root = new URL(base ?? `${broker.protocol === 'amqps:' ? 'https' : 'http'}://${broker.hostname}`);
  } catch {
    // Not rethrown with the input: it may hold a password.
    throw new UsageError(`--management (or ${MANAGEMENT_ENV}) is not a URL; write it as http[s]://[user:password@]host:port[/prefix]`);
  }
  if (!base) root.port = broker.protocol === 'amqps:' ? '15671' : '15672';
  if (root.protocol !== 'http:' && root.protocol !== 'https:') throw new UsageError(`--management (or ${MANAGEMENT_ENV}) must be an http:// or https:// URL`);
  const own = root.username !== '' || root.password !== '';
  const user = decodeURIComponent(own ? root.username : broker.username);
  const password = decodeURIComponent(own ? root.password : broker.password);
  root.username = '';
  root.password = '';
  if (!root.pathname.endsWith('/')) root.pathname += '/';
  const url = new URL(`api/queues/${encodeURIComponent(vhost)}`, root);
  url.searchParams.set('columns', ['name,messages_ready,messages_unacknowledged,consumers', ...(rates ? RATE_COLUMNS : [])].join(','));
  const authorization = user === '' && password === '' ? null : `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
  return { url, authorization, ...(rates ? { rates } : {}) };
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const RATE_COLUMNS = ['message_stats.publish_details.rate', 'message_stats.deliver_get_details.rate', 'message_stats.ack_details.rate'];

/** `message_stats.<what>_details.rate`, when it is a number of messages per second. */
function rateOf(stats: unknown, what: string): number | null {
  const details = typeof stats === 'object' && stats !== null ? (stats as Record<string, unknown>)[`${what}_details`] : undefined;
  const rate = typeof details === 'object' && details !== null ? (details as Record<string, unknown>)['rate'] : undefined;
  return typeof rate === 'number' && Number.isFinite(rate) && rate >= 0 ? rate : null;
}

/** The vhost's queues from the management API; null when it cannot be reached or answers anything unexpected. */
export async function fetchManagementQueues(endpoint: ManagementEndpoint, timeoutMs = MANAGEMENT_TIMEOUT_MS): Promise<ManagementQueue[] | null> {
  try {
    const response = await fetch(endpoint.url, {
      headers: { accept: 'application/json', ...(endpoint.authorization ? { authorization: endpoint.authorization } : {}) },
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'error',
    });
    if (!response.ok) return null;
    const body: unknown = await response.json();
    if (!Array.isArray(body)) return null;
    const queues: ManagementQueue[] = [];
    for (const q of body as unknown[]) {
      if (typeof q !== 'object' || q === null || typeof (q as { name?: unknown }).name !== 'string') return null;
      const { name, messages_ready, messages_unacknowledged, consumers, message_stats } = q as Record<string, unknown>;
      queues.push({
        name: name as string,
        ...(isCount(messages_ready) ? { messages_ready } : {}),
        ...(isCount(messages_unacknowledged) ? { messages_unacknowledged } : {}),
        ...(isCount(consumers) ? { consumers } : {}),
        ...(endpoint.rates ? { rates: { publish: rateOf(message_stats, 'publish'), deliver: rateOf(message_stats, 'deliver_get'), ack: rateOf(message_stats, 'ack') } } : {}),
      });
    }
    return queues;
  } catch {
    return null; // unreachable, refused, timed out, not JSON: the AMQP way works without it
  }
}

/**
 * Rows from the management API: every queue of the vhost, each `<queue>.dlq` folded into its queue's row, and
 * the known queues (contracts, --queue) that do not exist shown missing.
 */
export function rowsFromManagement(listed: readonly ManagementQueue[], known: readonly string[]): RatedQueueRow[] {
  const byName = new Map(listed.map((q) => [q.name, q]));
  const parents = new Set(known);
  for (const q of listed) parents.add(q.name.endsWith(DLQ_SUFFIX) ? q.name.slice(0, -DLQ_SUFFIX.length) : q.name);
  return [...parents].sort().map((queue) => {
    const q = byName.get(queue);
    const dlq = byName.get(queue + DLQ_SUFFIX);
    return {
      queue,
      state: q ? 'ok' : 'missing',
      ready: q?.messages_ready ?? null,
      unacked: q?.messages_unacknowledged ?? null,
      consumers: q?.consumers ?? null,
      dlq: dlq ? (dlq.messages_ready ?? null) : null,
      ...(q?.rates ? { rates: q.rates } : {}),
    };
  });
}

/** Rows from passive declares: the known queues only (AMQP cannot list queues); unacked is unknown. */
export function rowsFromCounts(known: readonly string[], counts: ReadonlyMap<string, QueueCount>): QueueRow[] {
  return [...new Set(known)].sort().map((queue) => {
    const q = counts.get(queue) ?? { state: 'missing' };
    const dlq = counts.get(queue + DLQ_SUFFIX);
    return {
      queue,
      state: q.state,
      ready: q.state === 'ok' ? q.ready : null,
      unacked: null,
      consumers: q.state === 'ok' ? q.consumers : null,
      dlq: dlq?.state === 'ok' ? dlq.ready : null,
    };
  });
}

/** The table: a header row, then one aligned line per queue; `-` where a count is unknown or the queue missing. */
export function formatQueues(rows: readonly QueueRow[]): string[] {
  const cell = (n: number | null) => (n === null ? '-' : String(n));
  const table = [
    ['QUEUE', 'STATE', 'READY', 'UNACKED', 'CONSUMERS', 'DLQ'],
    ...rows.map((r) => [printable(r.queue), r.state, cell(r.ready), cell(r.unacked), cell(r.consumers), cell(r.dlq)]),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((line) => line[i]!.length)));
  return table.map((line) => line.map((c, i) => (i === line.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
}

export interface InspectQueuesOptions {
  readonly contracts: string;
  /** --contracts was given: a missing directory is then an error, not "no contracts". */
  readonly contractsGiven: boolean;
  readonly queues: readonly string[];
  /** Management API base URL; undefined: derived from AMQP_URL; false: do not try it (--no-management). */
  readonly management: string | false | undefined;
  /** Ask the management API for the queues' message rates too (rows then carry `rates`). */
  readonly rates?: boolean;
}

/** The queues of the contracts, if the directory exists (or was asked for). */
async function contractQueues(o: InspectQueuesOptions): Promise<string[]> {
  if (!existsSync(o.contracts) && !o.contractsGiven) return [];
  return [...new Set([...taskCatalog(await loadContracts(o.contracts)).values()].map((t) => t.queue))];
}

/** Each queue taskbus knows of (or, with the management plugin, the vhost holds), with its counts and its DLQ's. */
export async function inspectQueues(o: InspectQueuesOptions): Promise<QueuesReport> {
  if (o.queues.some((q) => q === '')) throw new UsageError('--queue must name a queue (it was empty)');
  const report = await queueReport([...(await contractQueues(o)), ...o.queues], o.management, o.rates === true);
  if (report) return report;
  throw new UsageError(`no queues to inspect: no contracts in ${o.contracts}/ and no --queue given (the management plugin, which lists them all, did not answer)`);
}

/**
 * The `known` queues with their counts and their DLQ's (with the management plugin, every queue of the vhost);
 * null when there is nothing to count: no queue known and no management API answering.
 */
export async function queueReport(known: readonly string[], management: string | false | undefined, rates: boolean): Promise<QueuesReport | null> {
  const amqpUrl = process.env['AMQP_URL'] ?? DEFAULT_AMQP_URL;
  if (management !== false) {
    const listed = await fetchManagementQueues(managementEndpoint(amqpUrl, management ?? (process.env[MANAGEMENT_ENV] || undefined), { rates }));
    if (listed) return { source: 'management', queues: rowsFromManagement(listed, known) };
  }
  if (known.length === 0) return null;
  const counts = await countQueues([...new Set(known)].flatMap((q) => [q, q + DLQ_SUFFIX]));
  return { source: 'amqp', queues: rowsFromCounts(known, counts) };
}

const collect = (value: string, previous: readonly string[] | undefined): string[] => [...(previous ?? []), value];

/** Registers `inspect queues` on the `inspect` command. */
export function addInspectQueues(inspect: Command, print: (line: string) => void): void {
  inspect
    .command('queues')
    .description('each queue taskbus knows of (contracts, --queue; with the management plugin, every queue of the vhost): ready, unacked, consumers and its DLQ')
    .option('--contracts <dir>', 'contracts whose queues to show', 'contracts')
    .option('--queue <queue>', 'a queue to show as well (repeatable)', collect)
    .option('--management <url>', `management API base URL (default: ${MANAGEMENT_ENV}, else http://<AMQP host>:15672 with the AMQP credentials)`)
    .option('--no-management', 'do not ask the management API; passive declares over AMQP only (unacked unknown)')
    .option('--json', 'print {"source", "queues": [{queue, state, ready, unacked, consumers, dlq}]} (null where unknown)')
    .addHelpText(
      'after',
      helpText(['taskbus inspect queues', 'taskbus inspect queues --queue celery --json', 'taskbus inspect queues --management https://rabbit.example:15671']),
    )
    .action(async function (this: Command, opts: { contracts: string; queue?: string[]; management?: string | boolean; json?: boolean }) {
      const report = await inspectQueues({
        contracts: opts.contracts,
        contractsGiven: this.getOptionValueSource('contracts') !== 'default',
        queues: opts.queue ?? [],
        management: opts.management === false ? false : typeof opts.management === 'string' ? opts.management : undefined,
      });
      if (opts.json) print(terminalJson(report, 2));
      else for (const line of formatQueues(report.queues)) print(line);
    });
}
