import { openDeadLetters, type DeadLetter } from '@taskbus/runtime';
import { UsageError } from './errors.js';

export type DlqAction = 'list' | 'show' | 'replay' | 'purge';

function oneLine(s: string, max: number): string {
  const line = s.split('\n')[0] ?? '';
  return line.length > max ? line.slice(0, max - 1) + '…' : line;
}

function describe(d: DeadLetter): Record<string, unknown> {
  const text = d.contentType.startsWith('application/json') ? d.body.toString('utf8') : undefined;
  return { ...d, body: text ?? d.body.toString('base64'), bodyEncoding: text === undefined ? 'base64' : 'utf-8' };
}

/** `taskbus dlq <action> <queue> [id]`: inspect, replay or purge the dead letters of a queue. */
export async function dlqCommand(action: string, queue: string, id: string | undefined, print: (line: string) => void): Promise<void> {
  if (!['list', 'show', 'replay', 'purge'].includes(action)) throw new UsageError(`unknown dlq action "${action}"; use list, show, replay or purge`);
  if (action === 'show' && !id) throw new UsageError('dlq show needs a task id: taskbus dlq show <queue> <id>');
  const dlq = await openDeadLetters(queue);
  try {
    switch (action as DlqAction) {
      case 'list': {
        const all = await dlq.list();
        for (const d of all) print([d.id, d.task, d.reason, d.failedAt, oneLine(d.error, 100)].join('\t'));
        print(`${all.length} dead-lettered task${all.length === 1 ? '' : 's'} in ${queue}.dlq`);
        return;
      }
      case 'show': {
        const found = (await dlq.list()).filter((d) => d.id === id);
        if (found.length === 0) throw new UsageError(`no dead-lettered task ${id} in ${queue}.dlq`);
        for (const d of found) print(JSON.stringify(describe(d), null, 2));
        return;
      }
      case 'replay': {
        const n = await dlq.replay(id);
        if (id && n === 0) throw new UsageError(`no dead-lettered task ${id} in ${queue}.dlq`);
        print(`replayed ${n} task${n === 1 ? '' : 's'} from ${queue}.dlq (broker confirmed)`);
        return;
      }
      case 'purge':
        print(`purged ${await dlq.purge()} from ${queue}.dlq`);
        return;
    }
  } finally {
    await dlq.close();
  }
}
