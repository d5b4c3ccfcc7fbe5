/**
 * The broker's `max_message_size`, when `closedBy` is RabbitMQ closing a channel for a message over it
 * (406, "message size 2000070 is larger than configured max size 1048576"); else null. RabbitMQ sends no
 * other sign of the limit, so its text is read, behind the reply code.
 */
export function messageSizeLimit(closedBy: unknown): number | null {
  if ((closedBy as { code?: unknown } | null)?.code !== 406) return null;
  const message = closedBy instanceof Error ? closedBy.message : '';
  const m = /message size \d+ is larger than (?:configured )?max size (\d+)/.exec(message);
  return m ? Number(m[1]) : null;
}
