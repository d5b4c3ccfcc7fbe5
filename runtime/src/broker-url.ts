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

/**
 * Parses an `amqp://` or `amqps://` URL; anything else is a BadUrlError (E_BAD_URL) showing it redacted.
 * `listSecrets`: those of the whole list it came from, scrubbed too (a piece may hold part of a neighbour's).
 */
export function parseBrokerUrl(raw: string, listSecrets: readonly string[] = []): BrokerUrl {
  const secrets = [...new Set([...secretsOf(raw), ...listSecrets])].sort((a, b) => b.length - a.length);
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
  if (!HOST.test(url.hostname)) throw bad('the host name is missing or malformed (several URLs are separated by ;)');
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

/** Where a list is cut: a `;` followed by the next URL's scheme (as Celery's broker_url, which splits on `;`). */
const LIST_CUT = /;\s*(?=amqps?:\/\/)/i;

/**
 * The URLs of a `;`-separated list as written (not redacted: pass each through safeUrl to show it). A piece
 * that has no user info and is no URL at all is read as the start of a password holding `;amqp://` and
 * joined to the next, so such a password is never shown in part.
 */
export function splitBrokerList(raw: string): string[] {
  const pieces: string[] = [];
  let piece = '';
  const parts = raw.trim().split(LIST_CUT);
  for (const [i, part] of parts.entries()) {
    piece = piece === '' ? part : `${piece};${part}`;
    const partOfPassword = !piece.includes('@') && !URL.canParse(piece) && i < parts.length - 1;
    if (partOfPassword) continue;
    pieces.push(piece.trim());
    piece = '';
  }
  return pieces;
}

/**
 * Parses `AMQP_URL`: one URL or several separated by `;`, each checked and redacted on its own. The first
 * bad one is a BadUrlError; an empty list too.
 */
export function parseBrokerList(raw: string): readonly BrokerUrl[] {
  const pieces = splitBrokerList(raw);
  const secrets = [...secretsOf(raw), ...passwordHeads(pieces)].sort((a, b) => b.length - a.length);
  // A piece ending in `;` is followed by an empty entry (`;;`, a trailing `;`); it would go out as a vhost ending in `;`.
  if (pieces.length === 0 || pieces.some((p) => p === '' || p.endsWith(';'))) {
    throw new BadUrlError(scrubSecrets(redactUrl(raw), secrets), 'the list has an empty entry (";;" or a trailing ";"; write a ";" in a vhost as %3B)');
  }
  return pieces.map((p) => parseBrokerUrl(p, secrets));
}

/**
 * `amqp://u:8080;amqp://x@host` is two URLs (host u, port 8080; user x without a password) or one whose
 * password is `8080;amqp://x`, as a password of digits before `;amqp://` reads: the second reading is kept
 * for what is shown, so `8080` is a secret. Only when the next URL has a user without a password, which
 * a real list hardly holds (`amqp://h1:5681;amqps://u:secret@h2` still shows its port).
 */
function passwordHeads(pieces: readonly string[]): string[] {
  const heads: string[] = [];
  for (const [i, piece] of pieces.entries()) {
    const next = pieces[i + 1];
    const nextInfo = next?.slice(next.indexOf('://') + 3, next.lastIndexOf('@'));
    if (piece.includes('@') || next === undefined || !next.includes('@') || nextInfo === undefined || nextInfo.includes(':')) continue;
    const authority = piece.slice(piece.indexOf('://') + 3);
    const colon = authority.indexOf(':');
    if (colon >= 0 && authority.length - colon - 1 >= 4) heads.push(authority.slice(colon + 1));
  }
  return heads;
}
