import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { NoDeadLetterQueueError } from '@taskbus/runtime';
import { errorText, type Collector, type Snapshot } from './collect.js';
import { Guard, SESSION_COOKIE, SESSION_TTL_MS, type Refusal } from './auth.js';
import { LetterRefusal, listLetters, purgeLetters, replayLetters, showLetter } from './dead-letters.js';

const require = createRequire(import.meta.url);
/** The page's files: cli/ui/, beside src/ and dist/. */
const PAGE_DIR = new URL('../../ui/', import.meta.url);
const MAX_BODY_BYTES = 16 * 1024;
const MAX_QUEUE_NAME = 255;

interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

function assets(): Map<string, Asset> {
  const file = (name: string) => readFileSync(new URL(name, PAGE_DIR));
  return new Map([
    ['/app.js', { type: 'text/javascript; charset=utf-8', body: file('app.js') }],
    ['/app.css', { type: 'text/css; charset=utf-8', body: file('app.css') }],
    ['/vendor/uPlot.iife.min.js', { type: 'text/javascript; charset=utf-8', body: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js')) }],
    ['/vendor/uPlot.min.css', { type: 'text/css; charset=utf-8', body: readFileSync(require.resolve('uplot/dist/uPlot.min.css')) }],
  ]);
}

/** Every response: no framing, no sniffing, no referrer, scripts and styles from here only. */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8', ...headers });
  res.end(text);
}

const refuse = (res: ServerResponse, r: Refusal) => send(res, r.status, { error: r.message });

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY_BYTES) throw new BadRequest('request body too large');
    chunks.push(c);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  } catch {
    throw new BadRequest('request body is not JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadRequest('request body must be a JSON object');
  return body as Record<string, unknown>;
}

class BadRequest extends Error {}

/** The task queue whose `<queue>.dlq` is meant: never a `.dlq` itself (that would be `x.dlq.dlq`). */
function queueOf(v: unknown): string {
  if (typeof v !== 'string' || v === '' || v.length > MAX_QUEUE_NAME - '.dlq'.length) throw new BadRequest('name a queue (1 to 251 characters)');
  if (v.endsWith('.dlq')) throw new BadRequest(`name the task queue (${v.slice(0, -'.dlq'.length)}), whose dead-letter queue ${v} is meant`);
  return v;
}

export interface UiServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface UiServerOptions {
  readonly host: string;
  readonly port: number;
  readonly token: string | null;
  readonly collector: Collector;
}

/** The dashboard: the page, its state as JSON and as Server-Sent Events, and the dead-letter actions. */
export async function serveUi(o: UiServerOptions): Promise<UiServer> {
  const files = assets();
  const template = readFileSync(new URL('index.html', PAGE_DIR), 'utf8');
  const streams = new Set<ServerResponse>();
  let guard!: Guard;
  let page!: string;
  // Each snapshot is serialised once for every open page, not once per page.
  let framed: { readonly snapshot: Snapshot; readonly frame: string } | null = null;
  const frame = (snapshot: Snapshot) => (framed?.snapshot === snapshot ? framed : (framed = { snapshot, frame: `data: ${JSON.stringify(snapshot)}\n\n` })).frame;

  async function api(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    if (req.method === 'POST') {
      const refusal = guard.postRefusal(req, { login: path === '/api/login' });
      if (refusal) return refuse(res, refusal);
      const body = await readJson(req);
      if (path === '/api/login') {
        const session = guard.login(body['token']);
        if (!session) return send(res, 401, { error: 'wrong token' });
        return send(res, 200, { ok: true }, { 'set-cookie': `${SESSION_COOKIE}=${session}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_TTL_MS / 1000}` });
      }
      // The page asks before each of these; a request that was not confirmed is not carried out.
      if (body['confirm'] !== true) throw new BadRequest('state-changing requests need "confirm": true');
      const queue = queueOf(body['queue']);
      if (path === '/api/dlq/replay') {
        const id = body['id'];
        if (id !== undefined && (typeof id !== 'string' || id === '')) throw new BadRequest('id must be a task id');
        const report = await replayLetters(queue, id);
        void o.collector.refresh();
        return send(res, 200, report);
      }
      if (path === '/api/dlq/purge') {
        const purged = await purgeLetters(queue);
        void o.collector.refresh();
        return send(res, 200, { purged });
      }
      return send(res, 404, { error: 'no such action' });
    }
    if (req.method !== 'GET') return send(res, 405, { error: 'GET or POST' }, { allow: 'GET, POST' });
    if (!guard.authenticated(req)) return send(res, 401, { error: 'log in with the dashboard token' });
    switch (path) {
      case '/api/state':
        return send(res, 200, o.collector.snapshot() ?? (await o.collector.refresh()));
      case '/api/events': {
        res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' });
        const latest = o.collector.snapshot();
        if (latest) res.write(frame(latest));
        streams.add(res);
        req.on('close', () => streams.delete(res));
        return;
      }
      case '/api/dlq':
        return send(res, 200, await listLetters(queueOf(query.get('queue'))));
      case '/api/dlq/show': {
        const id = query.get('id');
        if (!id) throw new BadRequest('name a task id');
        const letter = await showLetter(queueOf(query.get('queue')), id);
        return letter ? send(res, 200, letter) : send(res, 404, { error: 'no such dead letter (replayed or purged meanwhile?)' });
      }
      default:
        return send(res, 404, { error: 'not found' });
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const hostRefusal = guard.hostRefusal(req);
    if (hostRefusal) return refuse(res, hostRefusal);
    const url = new URL(req.url ?? '/', 'http://ui.invalid');
    const path = url.pathname;
    if (path.startsWith('/api/')) return api(req, res, path, url.searchParams);
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'GET only\n', { allow: 'GET, HEAD' });
    if (path === '/' || path === '/index.html') return void res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8' }).end(page);
    if (path === '/favicon.ico') return void res.writeHead(204, SECURITY_HEADERS).end();
    const asset = files.get(path);
    if (!asset) return send(res, 404, 'not found\n');
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': asset.type }).end(asset.body);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) return void res.end();
      if (e instanceof BadRequest) return send(res, 400, { error: e.message });
      if (e instanceof LetterRefusal) return send(res, e.status, { error: e.message });
      // No such dead-letter queue is the request's mistake (or one purged and deleted meanwhile), not the broker's.
      send(res, e instanceof NoDeadLetterQueueError ? 404 : 502, { error: errorText(e) });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : o.port;
  guard = new Guard({ host: o.host, port }, o.token);
  page = template.replace('__CSRF__', guard.csrf).replace('__AUTH__', guard.tokenRequired ? 'token' : 'none');
  const offSnapshots = o.collector.onSnapshot((snapshot) => {
    for (const res of streams) res.write(frame(snapshot));
  });
  return {
    url: `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}/`,
    port,
    close: async () => {
      offSnapshots();
      for (const s of streams) s.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

