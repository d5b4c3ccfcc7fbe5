import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connectClient, loggerFromEnv, serveMetrics, silentLogger, type Logger, type TaskClient } from '@taskbus/runtime';
import { envInt, metricsFromEnv } from './main.js';

export interface Item {
  readonly id: string;
  readonly service: string;
  readonly body: unknown;
  readonly savedAt: string;
}

/** Sends one item to backup and returns the task id. */
export type Backup = (item: Item) => Promise<string>;

const MAX_BODY = 1024 * 1024;

/**
 * An example service: keeps items in memory and backs each saved item up through `backup`.
 * HTTP API: `PUT /items/<id>` (JSON body) saves and answers `{ id, taskId }`; `GET /items/<id>` reads.
 * Listens on PORT; serves the client's metrics at /metrics on METRICS_PORT when set; logs as LOG_FORMAT and
 * LOG_LEVEL ask; stops cleanly on SIGINT/SIGTERM.
 */
export async function runItemService(name: string, defaultPort: number, makeBackup: (client: TaskClient) => Backup): Promise<void> {
  const log = loggerFromEnv(name);
  const metrics = metricsFromEnv();
  const client = await connectClient({ connectionName: name, ...(metrics ? { metrics: {} } : {}) });
  const metricsServer = metrics && client.metricsRegistry ? await serveMetrics(client.metricsRegistry, metrics) : null;
  if (metricsServer) log.info('serving metrics', { url: `http://${metricsServer.host}:${metricsServer.port}/metrics` });
  const service = await startItemService({ name, port: envInt('PORT', defaultPort), backup: makeBackup(client), log });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await service.close();
  await metricsServer?.close();
  await client.close();
  log.info('stopped');
}

export interface ItemServiceOptions {
  readonly name: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly backup: Backup;
  readonly log?: Logger;
}

/** A running item service: its URL, and close() to stop listening. */
export interface ItemService {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The item service's HTTP API over a backup function, listening on 127.0.0.1. Tests give it a backup made
 * from any TaskClient (the in-memory one of `@taskbus/runtime/testing`); runItemService gives it the broker's.
 */
export async function startItemService(options: ItemServiceOptions): Promise<ItemService> {
  const { name, backup } = options;
  const log = options.log ?? silentLogger;
  const items = new Map<string, Item>();

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => reply(res, 500, { error: e instanceof Error ? e.message : String(e) }));
  });
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const id = /^\/items\/([\w.-]{1,200})$/.exec(req.url ?? '')?.[1];
    if (!id) return reply(res, 404, { error: 'use /items/<id>' });
    if (req.method === 'GET') {
      const item = items.get(id);
      return item ? reply(res, 200, item) : reply(res, 404, { error: `no item ${id}` });
    }
    if (req.method !== 'PUT') return reply(res, 405, { error: 'GET or PUT' });
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch {
      return reply(res, 400, { error: 'body must be JSON (at most 1 MiB)' });
    }
    const item: Item = { id, service: name, body, savedAt: new Date().toISOString() };
    items.set(id, item);
    const taskId = await backup(item);
    log.info('item saved, backup queued', { item: id, id: taskId });
    reply(res, 201, { id, taskId });
  }

  await new Promise<void>((resolve) => server.listen(options.port, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  log.info('listening', { url });
  return {
    url,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Error('body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
