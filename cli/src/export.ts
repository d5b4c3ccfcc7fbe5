import type { AsyncApiServer } from '@taskbus/codegen';
import { parseBrokerList, safeUrl, splitBrokerList, TaskbusError } from '@taskbus/runtime';
import { UsageError } from './errors.js';

/**
 * The broker an AsyncAPI document names: AMQP_URL's scheme, host and vhost (the first URL of a `;` list), or
 * the local default when it is unset. Read from the redacted URL, so the credentials never reach the document
 * or an error.
 */
export function asyncApiServer(amqpUrl: string | undefined): AsyncApiServer | undefined {
  if (amqpUrl === undefined || amqpUrl === '') return undefined;
  const shown = safeUrl(splitBrokerList(amqpUrl)[0] ?? amqpUrl);
  let url: URL;
  try {
    url = new URL(shown);
  } catch {
    throw new UsageError(`AMQP_URL ${shown} is not a URL`);
  }
  if (url.protocol !== 'amqp:' && url.protocol !== 'amqps:') throw new UsageError(`AMQP_URL ${shown} must start with amqp:// or amqps://`);
  // Read as the runtime reads it: an empty entry is refused, and the first broker is shown as the runtime shows it.
  let display: string;
  try {
    display = parseBrokerList(amqpUrl)[0]!.display;
  } catch (e) {
    throw new UsageError(e instanceof TaskbusError ? `AMQP_URL: ${e.message}` : `AMQP_URL ${shown} is not valid`);
  }
  try {
    url = new URL(display);
  } catch {
    throw new UsageError(`AMQP_URL ${display} is not a URL`);
  }
  const protocol = url.protocol === 'amqps:' ? 'amqps' : 'amqp';
  const host = url.port ? url.host : `${url.host}:${protocol === 'amqps' ? 5671 : 5672}`;
  return { protocol, host, ...(url.pathname.length > 1 ? { pathname: url.pathname } : {}) };
}
