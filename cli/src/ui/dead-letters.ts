import { countQueues, openDeadLetters, type DeadLetter, type ReplayReport } from '@taskbus/runtime';
import { errorText } from './collect.js';

/** A dead letter in the list: no body, no headers. */
export type LetterSummary = Pick<DeadLetter, 'id' | 'task' | 'reason' | 'error' | 'failedAt' | 'queue'>;

export interface LetterDetail extends LetterSummary {
  readonly contentType: string;
  readonly headers: Readonly<Record<string, unknown>>;
  readonly body: string;
  readonly bodyEncoding: 'utf-8' | 'base64';
  readonly truncated: boolean;
}

export const MAX_LISTED = 500;
const MAX_BODY_CHARS = 64 * 1024;
const MAX_ERROR_CHARS = 2000;

/** Text from a dead letter, with any URL's credentials redacted (a task may have failed quoting a broker URL). */
const clean = (s: string, max = MAX_ERROR_CHARS) => errorText(s.length > max ? s.slice(0, max) + '…' : s);

function redactDeep(v: unknown, depth = 0): unknown {
  if (typeof v === 'string') return clean(v);
  if (depth > 8) return '…';
  if (Array.isArray(v)) return v.slice(0, 100).map((x) => redactDeep(x, depth + 1));
  if (Buffer.isBuffer(v)) return `<${v.length} bytes>`;
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).slice(0, 100).map(([k, x]) => [k, redactDeep(x, depth + 1)]));
  return typeof v === 'bigint' ? String(v) : v;
}

const summary = (d: DeadLetter): LetterSummary => ({ id: d.id, task: d.task, reason: d.reason, error: clean(d.error), failedAt: d.failedAt, queue: d.queue });

/** A request the dashboard refuses: the message says why (HTTP `status`). */
export class LetterRefusal extends Error {
  constructor(
    readonly status: 404 | 409,
    message: string,
  ) {
    super(message);
  }
}

/**
 * `<queue>.dlq` must be a dead-letter queue: nobody consumes one (a task queue of that name would have its
 * worker), so one with consumers is refused before anything is taken from or purged out of it.
 */
async function ensureDeadLetterQueue(queue: string): Promise<void> {
  const dlq = `${queue}.dlq`;
  const count = (await countQueues([dlq])).get(dlq);
  if (count?.state === 'ok' && count.consumers > 0) {
    throw new LetterRefusal(409, `${dlq} has ${count.consumers} consumer(s): a task queue, not a dead-letter queue; the dashboard leaves it alone`);
  }
}

/** The first `MAX_LISTED` dead letters of `<queue>.dlq`, and how many there are. */
export async function listLetters(queue: string): Promise<{ letters: LetterSummary[]; more: boolean }> {
  await ensureDeadLetterQueue(queue); // reading takes each message for a moment: never a task queue's
  const dlq = await openDeadLetters(queue);
  try {
    const letters: LetterSummary[] = [];
    for await (const d of dlq.list()) {
      if (letters.length === MAX_LISTED) return { letters, more: true };
      letters.push(summary(d));
    }
    return { letters, more: false };
  } finally {
    await dlq.close();
  }
}

export async function showLetter(queue: string, id: string): Promise<LetterDetail | null> {
  await ensureDeadLetterQueue(queue);
  const dlq = await openDeadLetters(queue);
  try {
    for await (const d of dlq.list()) {
      if (d.id !== id) continue;
      const json = d.contentType.startsWith('application/json');
      const text = json ? d.body.toString('utf8') : d.body.toString('base64');
      return {
        ...summary(d),
        contentType: d.contentType,
        headers: redactDeep(d.headers) as Record<string, unknown>,
        body: json ? clean(text, MAX_BODY_CHARS) : text.slice(0, MAX_BODY_CHARS),
        bodyEncoding: json ? 'utf-8' : 'base64',
        truncated: text.length > MAX_BODY_CHARS,
      };
    }
    return null;
  } finally {
    await dlq.close();
  }
}

export async function replayLetters(queue: string, id?: string): Promise<ReplayReport> {
  await ensureDeadLetterQueue(queue);
  const dlq = await openDeadLetters(queue);
  try {
    const report = await dlq.replay(id);
    if (id !== undefined && report.replayed + report.kept === 0) {
      throw new LetterRefusal(404, `no dead letter ${id} in ${queue}.dlq: replayed or purged meanwhile (or being read by another replay right now); nothing was done`);
    }
    return report;
  } finally {
    await dlq.close();
  }
}

export async function purgeLetters(queue: string): Promise<number> {
  await ensureDeadLetterQueue(queue);
  const dlq = await openDeadLetters(queue);
  try {
    return await dlq.purge();
  } finally {
    await dlq.close();
  }
}
