import type { ChannelModel } from 'amqplib';
import { closeConnection } from '../amqp/close.js';
import type { ConnectOptions } from '../connect-options.js';
import { openConnection } from '../connection.js';
import { TaskbusError } from '../errors.js';
import { broadcast } from './broadcast.js';
import type { NodeReply } from './protocol.js';

export type { NodeReply } from './protocol.js';

/** The inspect commands every taskbus worker answers, as Celery's `celery inspect` names them. */
export const INSPECT_COMMANDS = ['ping', 'registered', 'active', 'stats', 'active_queues', 'revoked', 'clock'] as const;
export type InspectCommand = (typeof INSPECT_COMMANDS)[number];

export interface ControlCallOptions {
  /** How long to collect replies (default 1000 ms, as `celery inspect`). */
  readonly timeoutMs?: number;
  /** Only these nodes (e.g. `celery@host`, `taskbus-123@host`); the wait ends once all answered. */
  readonly destination?: readonly string[];
}

/** Asks Celery workers, Python or TypeScript, over Celery's remote control (the `celery.pidbox` exchange). */
export interface ControlClient {
  /** Broadcasts an inspect command; one entry per worker that answered in time, sorted by node name. */
  inspect(command: InspectCommand, options?: ControlCallOptions): Promise<NodeReply[]>;
  /**
   * Revokes task ids on every worker (Celery's `app.control.revoke`): a worker refuses them from now on, for
   * as long as Celery keeps revokes (3 hours), and tells workers that start later (mingle). Returns the
   * replies of the workers that flagged them in time.
   */
  revoke(ids: readonly string[], options?: ControlCallOptions): Promise<NodeReply[]>;
  close(): Promise<void>;
}

/** No worker answered within the timeout. */
export class NoReplyError extends TaskbusError {
  constructor(
    readonly command: string,
    readonly timeoutMs: number,
  ) {
    super(
      'E_NO_REPLY',
      command === 'revoke'
        ? `the revoke was sent, but no worker acknowledged it within ${timeoutMs} ms: with no worker up, none remembers it (is any Celery or taskbus worker running on this vhost?)`
        : `no worker answered "${command}" within ${timeoutMs} ms (is any Celery or taskbus worker running on this vhost, with remote control enabled?)`,
    );
  }
}

const byNode = (a: NodeReply, b: NodeReply) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0);

export async function openControl(options: ConnectOptions = {}): Promise<ControlClient> {
  const connection: ChannelModel = await openConnection({ connectionName: 'taskbus control', ...options });
  connection.on('error', () => undefined);
  const call = async (method: string, args: Record<string, unknown>, o: ControlCallOptions = {}) => {
    const replies = await broadcast(connection, {
      method,
      arguments: args,
      timeoutMs: o.timeoutMs ?? 1000,
      ...(o.destination ? { destination: o.destination } : {}),
    });
    return replies.sort(byNode);
  };
  return {
    inspect: (command, o) => call(command, command === 'registered' ? { taskinfoitems: [] } : {}, o),
    revoke: (ids, o) => call('revoke', { task_id: [...ids], terminate: false, signal: 'SIGTERM' }, o),
    close: () => closeConnection(connection),
  };
}
