/**
 * Credentials out of text, by structure rather than by guessing what a password looks like: a password
 * that was not percent-encoded may hold any character (`@ : / # ? %`, spaces, unicode), so the user info
 * of a URL runs from `scheme://` to the LAST `@` before the next URL. Redacting a stray `@` further on
 * in the text is the safe mistake.
 */

const SCHEME = /[a-z][a-z0-9+.-]*:\/\//gi;
/** Separates the URLs of a list (Celery's broker_url takes `;`- or `,`-separated lists). */
const LIST_SEPARATOR = /[\s;,]/;
/** Shorter strings are not scrubbed: they would mangle messages and identify no password. */
const MIN_SECRET_LENGTH = 4;
const MASK = '***';

interface UrlSpan {
  /** Index just after `scheme://`. */
  readonly from: number;
  /** Index of the last `@` of this URL, or -1 when it has no user info. */
  readonly at: number;
  /** Index where the next URL of the text starts, or the text's length. */
  readonly to: number;
}

function urlSpans(text: string): UrlSpan[] {
  // A `x://` inside a password is not the start of another URL unless a list separator precedes it.
  const starts = [...text.matchAll(SCHEME)].filter((m, i) => i === 0 || LIST_SEPARATOR.test(text[m.index - 1] ?? ''));
  const spans = starts.map((m, i) => {
    const from = m.index + m[0].length;
    const to = starts[i + 1]?.index ?? text.length;
    const at = text.lastIndexOf('@', to - 1);
    return { from, at: at >= from ? at : -1, to };
  });
  // A span without `@` followed by another URL may be a password holding `, x://`: read both as one
  // (hiding a host of a list too much is the safe mistake).
  const merged: UrlSpan[] = [];
  for (let i = spans.length - 1; i >= 0; i--) {
    const span = spans[i]!;
    const next = merged[0];
    merged.unshift(span.at < 0 && next ? { from: span.from, at: next.at, to: next.to } : span);
    if (span.at < 0 && next) merged.splice(1, 1);
  }
  return merged;
}

/** Replaces the user info (`user:password@`) of every URL in the text with `***@`. */
export function redactUrls(text: string): string {
  let out = '';
  let done = 0;
  for (const { from, at } of urlSpans(text)) {
    if (at < 0) continue;
    out += text.slice(done, from) + MASK;
    done = at;
  }
  return out + text.slice(done);
}

/** `amqp://***@host` form of one URL; a string without `scheme://` loses everything up to its last `@`. */
export function redactUrl(url: string): string {
  if (urlSpans(url).length > 0) return redactUrls(url);
  const at = url.lastIndexOf('@');
  return at < 0 ? url : MASK + url.slice(at);
}

function decoded(text: string, decode: (s: string) => string): string {
  try {
    return decode(text);
  } catch {
    return text; // malformed percent-encoding: the raw form is the one to look for
  }
}

/**
 * Every form the credentials of a URL (or URL list) may take in text: as written, percent-decoded (as
 * WHATWG and amqplib's `unescape` decode them) and percent-encoded, for the user info and the password.
 */
export function secretsOf(url: string): string[] {
  const forms = new Set<string>();
  const infos = urlSpans(url).flatMap(({ from, at }) => (at < 0 ? [] : [url.slice(from, at)]));
  if (infos.length === 0 && url.includes('@')) infos.push(url.slice(0, url.lastIndexOf('@')));
  for (const info of infos) {
    const colon = info.indexOf(':');
    for (const raw of colon < 0 ? [info] : [info, info.slice(colon + 1)]) {
      const plain = decoded(raw, decodeURIComponent);
      for (const form of [raw, plain, decoded(raw, unescape), encodeURIComponent(plain), encodeURI(plain)]) forms.add(form);
    }
  }
  return [...forms].filter((s) => s.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
}

/** The text with every occurrence of the given secrets (longest first) replaced by `***`. */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  return secrets.reduce((t, s) => t.split(s).join(MASK), text);
}
