import { readFileSync } from 'node:fs';
import type { BrokerUrl } from '../broker-url.js';
import type { BrokerInfo } from './commands.js';

/** This runtime's version, for `inspect stats` (`sw_ver`). From src/ and from dist/ alike, two levels up. */
export const RUNTIME_VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
})();

/** The broker as `inspect stats` shows it: host, port, user and vhost, never the password. */
export function brokerInfo(broker: BrokerUrl | null, heartbeat = 15): BrokerInfo | null {
  if (!broker) return null;
  const u = broker.url;
  const tls = u.protocol === 'amqps:';
  const vhost = u.pathname.length > 1 ? decodeURIComponent(u.pathname.slice(1)) : '/';
  return {
    hostname: u.hostname,
    port: u.port ? Number(u.port) : tls ? 5671 : 5672,
    userid: u.username ? decodeURIComponent(u.username) : 'guest',
    virtualHost: vhost,
    ssl: tls,
    heartbeat,
  };
}
