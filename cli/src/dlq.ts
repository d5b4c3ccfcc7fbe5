import { openDeadLetters, ReplayUnroutableError, type DeadLetter } from '@taskbus/runtime';
import { UsageError } from './errors.js';
import { printable } from './terminal.js';

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
        let n = 0;
        for await (const d of dlq.list()) {
          print([d.id, d.task, d.reason, d.failedAt, oneLine(d.error, 100)].map(printable).join('\t'));
          n++;
        }
        print(`${n} dead-lettered task${n === 1 ? '' : 's'} in ${queue}.dlq`);
        return;
      }
      case 'show': {
        let n = 0;
        for await (const d of dlq.list()) {
          if (d.id !== id) continue;
          print(JSON.stringify(describe(d), null, 2));
          n++;
        }
        if (n === 0) throw new UsageError(`no dead-lettered task ${id} in ${queue}.dlq`);
        return;
      }
      case 'replay': {
        const report = await dlq.replay(id);
        if (id && report.replayed + report.kept === 0) throw new UsageError(`no dead-lettered task ${id} in ${queue}.dlq`);
        const n = report.replayed;
        print(`replayed ${n} task${n === 1 ? '' : 's'} from ${queue}.dlq (broker confirmed)`);
        if (report.kept > 0) throw new ReplayUnroutableError(queue, report);
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
