import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const TOKEN_ENV = 'TASKBUS_UI_TOKEN';
export const MIN_TOKEN_LENGTH = 16;
export const CSRF_HEADER = 'x-taskbus-csrf';
export const SESSION_COOKIE = 'taskbus_ui_session';
/** A session lasts a working day; a stolen cookie does not work for ever. */
export const SESSION_TTL_MS = 12 * 60 * 60_000;
/** Sessions kept at once: a new login beyond it ends the oldest. */
const MAX_SESSIONS = 64;

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|\[::1\]|localhost)$/i;

export const isLoopback = (host: string): boolean => LOOPBACK.test(host);

/** Compares secrets in constant time (hashed first, so lengths do not leak either). */
export function sameSecret(a: string, b: string): boolean {
  const h = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(h(a), h(b));
}

export type Refusal = { readonly status: 400 | 401 | 403 | 421; readonly message: string };

/**
 * Who may use the dashboard, and how a request proves it:
 * - bound to loopback, the Host header must name this server (a loopback address or localhost, and its port):
 *   a page on another site whose name was rebound to 127.0.0.1 sends its own name, and is refused;
 * - with a token (TASKBUS_UI_TOKEN; required off loopback), every API request carries it (`Authorization:
 *   Bearer`), or the session cookie the page gets by posting it to /api/login;
 * - every POST carries this process's CSRF token (in the served page) in a header a foreign page cannot set
 *   without a CORS preflight this server never grants, a JSON body, and no foreign Origin.
 */
export class Guard {
  readonly csrf = randomBytes(24).toString('base64url');
  /** Session id to when it ends (ms since the epoch), oldest first. */
  private readonly sessions = new Map<string, number>();

  constructor(
    private readonly bound: { readonly host: string; readonly port: number },
    private readonly token: string | null,
    private readonly now: () => number = Date.now,
  ) {}

  get tokenRequired(): boolean {
    return this.token !== null;
  }

  /** Hosts a request to this server may name: on loopback, the loopback names with the port. */
  hostRefusal(req: IncomingMessage): Refusal | null {
    if (!isLoopback(this.bound.host)) return null; // off loopback the token guards every API request
    const host = (req.headers.host ?? '').toLowerCase();
    const port = String(this.bound.port);
    const allowed = ['127.0.0.1', 'localhost', '[::1]', this.bound.host.toLowerCase()].map((h) => `${h.includes(':') && !h.startsWith('[') ? `[${h}]` : h}:${port}`);
    return allowed.includes(host) ? null : { status: 421, message: 'this dashboard answers to its loopback address only (Host header refused)' };
  }

  /** Whether the request carries the token (or a session from it); always true without a token. */
  authenticated(req: IncomingMessage): boolean {
    if (this.token === null) return true;
    const auth = req.headers.authorization ?? '';
    if (auth.startsWith('Bearer ') && sameSecret(auth.slice('Bearer '.length), this.token)) return true;
    const session = cookie(req, SESSION_COOKIE);
    if (session === null) return false;
    const now = this.now();
    for (const [s, endsAt] of this.sessions) if (endsAt <= now) this.sessions.delete(s);
    return [...this.sessions.keys()].some((s) => sameSecret(s, session));
  }

  /** A new session for a correct token (null for a wrong one), valid for SESSION_TTL_MS. */
  login(token: unknown): string | null {
    if (this.token === null || typeof token !== 'string' || !sameSecret(token, this.token)) return null;
    const session = randomBytes(32).toString('base64url');
    this.sessions.set(session, this.now() + SESSION_TTL_MS);
    if (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    return session;
  }

  /** Checks a state-changing request before its body is read. */
  postRefusal(req: IncomingMessage, { login = false } = {}): Refusal | null {
    const csrf = req.headers[CSRF_HEADER];
    if (typeof csrf !== 'string' || !sameSecret(csrf, this.csrf)) return { status: 403, message: `missing or wrong ${CSRF_HEADER} header (reload the page)` };
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host ?? ''}`) return { status: 403, message: 'cross-origin request refused' };
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) return { status: 400, message: 'send a JSON body (content-type: application/json)' };
    if (!login && !this.authenticated(req)) return { status: 401, message: `log in with the dashboard's token (${TOKEN_ENV})` };
    return null;
  }
}

function cookie(req: IncomingMessage, name: string): string | null {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return null;
}
