import { DEFAULT_AMQP_URL, safeUrl } from '@taskbus/runtime';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { helpText } from '../help.js';
import { isLoopback, MIN_TOKEN_LENGTH, TOKEN_ENV } from './auth.js';
import { Collector } from './collect.js';
import { serveUi } from './server.js';

export interface UiOptions {
  readonly port: string;
  readonly host: string;
  readonly queue?: string[];
  readonly metrics?: string[];
  readonly interval: string;
  readonly contracts: string;
  readonly management?: string | boolean;
}

const collect = (value: string, previous: readonly string[] | undefined): string[] => [...(previous ?? []), value];

function number(text: string, what: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`${what} must be a number between ${min} and ${max}, got ${text}`);
  return n;
}

/** The token the dashboard asks for: required unless it listens on loopback only. */
export function uiToken(host: string, env: NodeJS.ProcessEnv): string | null {
  const token = env[TOKEN_ENV] || null;
  if (token === null && !isLoopback(host)) {
    throw new UsageError(`--host ${host} exposes the dashboard beyond this machine: set ${TOKEN_ENV} to a secret of ${MIN_TOKEN_LENGTH}+ characters (the page asks for it; every API request needs it)`);
  }
  if (token !== null && token.length < MIN_TOKEN_LENGTH) throw new UsageError(`${TOKEN_ENV} must be at least ${MIN_TOKEN_LENGTH} characters long`);
  return token;
}

function metricsUrl(u: string): string {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    throw new UsageError('--metrics takes http://host:port/metrics URLs');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('--metrics takes http:// or https:// URLs');
  return url.href;
}

/** `taskbus ui`: serves the dashboard until interrupted. */
export async function runUi(o: UiOptions, contractsGiven: boolean, print: (line: string) => void): Promise<void> {
  const port = number(o.port, '--port', 0, 65_535);
  const intervalMs = number(o.interval, '--interval', 0.5, 600) * 1000;
  const token = uiToken(o.host, process.env);
  const collector = new Collector({
    queues: o.queue ?? [],
    metrics: (o.metrics ?? []).map(metricsUrl),
    contracts: o.contracts,
    contractsGiven,
    management: o.management === false ? false : typeof o.management === 'string' ? o.management : undefined,
    replyTimeoutMs: Math.min(1000, intervalMs / 2),
  });
  await collector.loadCatalog();
  const server = await serveUi({ host: o.host, port, token, collector });
  collector.start(intervalMs);
  print(`taskbus ui: ${server.url} (broker ${safeUrl(process.env['AMQP_URL'] ?? DEFAULT_AMQP_URL)}${token ? `; the page asks for ${TOKEN_ENV}` : ''}); Ctrl-C stops it`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  await collector.close();
}

/** Registers `taskbus ui`. */
export function addUi(program: Command, print: (line: string) => void): void {
  program
    .command('ui')
    .description('a web dashboard: queues, workers (Python and TypeScript), tasks per version, dead letters (browse, replay, purge); live')
    .option('--port <port>', 'TCP port (0: any free one)', '8089')
    .option('--host <address>', `address to bind; anything but loopback needs ${TOKEN_ENV}`, '127.0.0.1')
    .option('--queue <queue>', 'a queue to show besides those the workers consume (repeatable)', collect)
    .option('--metrics <url>', "a worker's /metrics URL to scrape besides those the workers tell (repeatable)", collect)
    .option('--interval <seconds>', 'how often to sample', '3')
    .option('--contracts <dir>', 'contracts: their queues are shown, and Celery task names mapped to versions', 'contracts')
    .option('--management <url>', 'management API base URL (as `inspect queues`)')
    .option('--no-management', 'do not ask the management API')
    .addHelpText(
      'after',
      helpText(['taskbus ui', 'taskbus ui --port 8089 --queue celery', `${TOKEN_ENV}=$(openssl rand -hex 16) taskbus ui --host 0.0.0.0`]) +
        `\n\nA page bound beyond loopback asks for ${TOKEN_ENV}; every API request, and every replay or purge, checks it.`,
    )
    .action(async function (this: Command, opts: UiOptions) {
      await runUi(opts, this.getOptionValueSource('contracts') !== 'default', print);
    });
}
