import { BadUrlError } from './errors.js';
import { redactUrl, scrubSecrets, secretsOf } from './redact.js';

/** A broker URL checked once, with what any message about it may show and must hide. */
export interface BrokerUrl {
  readonly url: URL;
  /** Redacted form, the only one messages may show. */
  readonly display: string;
  /** The credentials in every form they may take in text; scrub them from anything put in an error. */
  readonly secrets: readonly string[];
}

const HOST = /^(?:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?|\[[0-9A-Fa-f:.]+\])$/;

/** Parses an `amqp://` or `amqps://` URL; anything else is a BadUrlError (E_BAD_URL) showing it redacted. */
export function parseBrokerUrl(raw: string): BrokerUrl {
  const secrets = secretsOf(raw);
  const display = scrubSecrets(redactUrl(raw), secrets);
  const bad = (reason: string) => new BadUrlError(display, reason);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    // Not rethrown or kept as a cause: Node's URL error carries the whole input, password included.
    throw bad('it does not parse (a malformed port or host, or an unencoded character in the password?)');
  }
  if (url.protocol !== 'amqp:' && url.protocol !== 'amqps:') throw bad('the scheme must be amqp:// or amqps://');
  if (!HOST.test(url.hostname)) throw bad('the host name is missing or malformed (a list of URLs is not supported)');
  // An `@` after the host means a password with an unencoded `/`, `?` or `#`: its tail would go out as a vhost.
  if (`${url.pathname}${url.search}${url.hash}`.includes('@')) throw bad('an @ after the host name');
  // amqplib decodes the user, password and vhost itself: a malformed escape would fail later, as "unreachable".
  for (const part of [url.username, url.password, url.pathname]) {
    try {
      decodeURIComponent(part);
    } catch {
      throw bad('a malformed percent-escape (write % as %25)');
    }
  }
  return { url, display, secrets };
}
