import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { describeCause } from '../errors.js';
import { MetricsConfigError, MetricsServerError } from './errors.js';

/** Where a metrics endpoint listens. */
export interface MetricsServerOptions {
  /** TCP port; 0 picks a free one (read it back from `port`). */
  readonly port: number;
  /** Address to bind (default 127.0.0.1: metrics are not exposed beyond the host unless asked). */
  readonly host?: string;
}

/** An HTTP server answering `GET /metrics` from one registry. */
export interface MetricsServer {
  /** The port it listens on (the one picked when 0 was asked for). */
  readonly port: number;
  readonly host: string;
  close(): Promise<void>;
}

export const DEFAULT_METRICS_HOST = '127.0.0.1';

/** Serves `registry` at `/metrics` (and `/`); anything else is a 404. */
export async function serveMetrics(registry: Registry, options: MetricsServerOptions): Promise<MetricsServer> {
  const host = options.host ?? DEFAULT_METRICS_HOST;
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65_535) {
    throw new MetricsConfigError(`metrics port must be an integer in 0..65535, got ${String(options.port)}`);
  }
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD' }).end();
    if (path !== '/metrics' && path !== '/') return void res.writeHead(404, { 'content-type': 'text/plain' }).end('metrics are at /metrics\n');
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : text),
      (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`collecting metrics failed: ${describeCause(e)}\n`),
    );
  });
  // A scrape must never hold the process open, nor stop() waiting for idle keep-alive sockets.
  server.unref();
  await listen(server, options.port, host);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    port,
    host,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (e: unknown) => reject(new MetricsServerError(host, port, e));
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve();
    });
  });
}
