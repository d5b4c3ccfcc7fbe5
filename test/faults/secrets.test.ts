import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { Type } from '@sinclair/typebox';
import { connectClient, createWorker, defineTask, TaskbusError, type Logger } from '@taskbus/runtime';
import { expect } from 'chai';
import { AMQP_URL, recordingLogger, uniqueQueue } from '../support/broker.js';
import { TASKBUS_BIN } from '../support/cli.js';
import { runProcess } from '../support/process.js';

/** mulberry32: the same seed gives the same URLs on every run, so a leak found once is found again. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = seeded(8_11);
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;

const PLAIN = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'];
const SPECIAL = ['@', '%', ':', '/', '#', '?', ';', ',', ' ', '!', '$', '&', '+', '=', '[', ']', 'ä', 'ß', '日本', '🔑', '%40', '%2F', '%25', '%zz', '%'];

/** At least 6 characters, two of them special; now and then a very long one. */
function password(): string {
  const length = random() < 0.05 ? 200 + int(600) : 6 + int(24);
  const parts = [pick(SPECIAL), pick(SPECIAL)];
  while (parts.join('').length < length) parts.push(random() < 0.3 ? pick(SPECIAL) : pick(PLAIN));
  return parts.sort(() => random() - 0.5).join('');
}

const broker = new URL(AMQP_URL);
const hostPort = `${broker.hostname}:${broker.port || 5672}`;
const vhost = broker.pathname.slice(1);

type Outcome = 'E_BAD_URL' | 'E_BROKER_ACCESS_REFUSED' | 'E_BROKER_UNREACHABLE' | 'E_TLS';

interface Case {
  readonly kind: string;
  readonly url: string;
  readonly password: string;
  /** The code this kind must give, when it does not depend on which characters the password holds. */
  readonly expect?: Outcome;
}

/** Every kind of URL, for one password; `refusing` are local ports nothing listens on. */
function urlCases(pw: string, refusing: readonly number[]): Case[] {
  const enc = encodeURIComponent(pw);
  const at = (kind: string, url: string, expected?: Outcome): Case => ({ kind, url, password: pw, ...(expected ? { expect: expected } : {}) });
  return [
    at('wrong password, as typed', `amqp://guest:${pw}@${hostPort}/${vhost}`),
    at('wrong password, encoded', `amqp://guest:${enc}@${hostPort}/${vhost}`, 'E_BROKER_ACCESS_REFUSED'),
    at('empty user', `amqp://:${enc}@${hostPort}/${vhost}`, 'E_BROKER_ACCESS_REFUSED'),
    at('user with @', `amqp://us@er:${pw}@${hostPort}/${vhost}`),
    at('refusing port', `amqp://guest:${pick([pw, enc])}@127.0.0.1:${pick(refusing)}/${vhost}`),
    at('refusing port, encoded', `amqp://guest:${enc}@127.0.0.1:${pick(refusing)}/${vhost}`, 'E_BROKER_UNREACHABLE'),
    at('malformed port', `amqp://guest:${enc}@${broker.hostname}:${pick(['bad', '99999', '-1', '5672:extra', '56 72'])}/${vhost}`, 'E_BAD_URL'),
    at('malformed host', `amqp://guest:${enc}@${pick(['[::1', '', 'ho st', '[::1]]'])}:5672/${vhost}`, 'E_BAD_URL'),
    at('host:port:extra', `amqp://guest:${pw}@${hostPort}:extra`),
    at('URL list joined by ,', [0, 1].map(() => `amqp://guest:${pick([pw, enc])}@${hostPort}/${vhost}`).join(','), 'E_BAD_URL'),
    at('URL list', [0, 1].map(() => `amqp://guest:${pick([pw, enc])}@${hostPort}/${vhost}`).join(pick([';', '; ']))),
    at('URL list, a refusing port then a wrong password', `amqp://guest:${enc}@127.0.0.1:${pick(refusing)}/${vhost};amqp://guest:${enc}@${hostPort}/${vhost}`, 'E_BROKER_ACCESS_REFUSED'),
    at('URL list, every port refusing', refusing.map((p) => `amqp://guest:${enc}@127.0.0.1:${p}/${vhost}`).join(';'), 'E_BROKER_UNREACHABLE'),
    at('URL list, one entry malformed', `amqp://guest:${enc}@127.0.0.1:${pick(refusing)}/${vhost};amqp://guest:${enc}@${broker.hostname}:99999/${vhost}`, 'E_BAD_URL'),
    at('no scheme', `guest:${pw}@${hostPort}/${vhost}`, 'E_BAD_URL'),
    at('another scheme', `http://guest:${enc}@${hostPort}/${vhost}`, 'E_BAD_URL'),
    at('TLS to the plain port', `amqps://guest:${enc}@${hostPort}/${vhost}`, 'E_TLS'),
  ];
}

/** The forms the password may take in output; trivially short or blank ones would match anything. */
function forms(pw: string): string[] {
  let plain = pw;
  try {
    plain = decodeURIComponent(pw);
  } catch {
    // not valid percent-encoding: the raw form is the one to look for
  }
  return [...new Set([pw, plain, encodeURIComponent(plain)])].filter((f) => f.trim().length >= 4);
}

interface Leak {
  readonly kind: string;
  readonly url: string;
  readonly where: string;
}

function leaksIn(c: Case, where: string, text: string): Leak[] {
  return forms(c.password).some((f) => text.includes(f)) ? [{ kind: c.kind, url: c.url, where }] : [];
}

/** Runs `open`, which must fail; returns the error (inspected in full: message, stack, fields, cause chain). */
async function failure(open: () => Promise<{ close?(): Promise<void>; stop?(): Promise<void> }>): Promise<unknown> {
  try {
    const opened = await open();
    await (opened.close ?? opened.stop)?.call(opened);
  } catch (e) {
    return e;
  }
  return new Error('connected, but every URL here must fail');
}

async function inPool<T>(items: readonly T[], width: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await run(items[next++]!);
  }));
}

/** Local ports that refuse at once: bound by us, then released. */
async function refusingPorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < n; i++) {
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    ports.push((server.address() as AddressInfo).port);
    server.close();
    await once(server, 'close');
  }
  return ports;
}

describe('no secret in any output: 1,000+ generated broker URLs at every entry point', function () {
  this.timeout(120_000);
  const spec = defineTask<[], Record<string, never>, null>({ name: 'secrets.job', queue: uniqueQueue('secrets'), args: {}, result: Type.Null() });
  const connectTimeoutMs = 2000;
  let cases: Case[] = [];

  before(async () => {
    const refusing = await refusingPorts(3);
    while (cases.length < 1000) cases.push(...urlCases(password(), refusing));
  });

  it('client and worker (recording and default stderr logger): typed errors, the password nowhere', async () => {
    const leaks: Leak[] = [];
    const outcomes = new Map<string, number>();
    const wrong: string[] = [];
    const stderr: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string | Uint8Array) => (stderr.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      await inPool(cases, 16, async (c) => {
        const log = recordingLogger();
        const withLogger = (logger?: Logger) => ({ url: c.url, connectTimeoutMs, ...(logger ? { logger } : {}) });
        const worker = (logger?: Logger) => {
          const w = createWorker(withLogger(logger));
          w.register(spec, () => null);
          return w.start().then(() => w);
        };
        const errors = {
          client: await failure(() => connectClient(withLogger(log))),
          worker: await failure(() => worker(log)),
          'client, default logger': await failure(() => connectClient(withLogger())),
          'worker, default logger': await failure(() => worker()),
        };
        for (const [where, error] of Object.entries(errors)) {
          const code = error instanceof TaskbusError ? error.code : `untyped ${String(error)}`;
          outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
          if (c.expect && code !== c.expect) wrong.push(`${c.kind}: ${where} gave ${code}, not ${c.expect}`);
          leaks.push(...leaksIn(c, `${where} error`, inspect(error, { depth: 10 })));
        }
        leaks.push(...leaksIn(c, 'log', inspect(log.records, { depth: 10 })));
      });
    } finally {
      process.stderr.write = write;
    }
    for (const c of cases) leaks.push(...leaksIn(c, 'stderr', stderr.join('')));
    expect(cases.length).to.be.at.least(1000);
    expect(leaks.slice(0, 10)).to.deep.equal([]);
    expect(wrong.slice(0, 10)).to.deep.equal([]);
    expect([...outcomes.keys()].sort()).to.deep.equal(['E_BAD_URL', 'E_BROKER_ACCESS_REFUSED', 'E_BROKER_UNREACHABLE', 'E_TLS']);
  });

  it('the CLI (call and dlq list) with AMQP_URL set: exit 1 saying why, the password nowhere', async function () {
    this.timeout(240_000);
    // A process per run costs about a second of CPU, so 40 URLs: about three passwords of every kind, and as the
    // number of kinds (17) is odd, alternating commands gives each kind both.
    const runs = cases.slice(0, 40).map((c, i) => ({ c, args: i % 2 ? ['dlq', 'list', spec.queue] : ['call', 'secrets.job', '[]', '--queue', spec.queue] }));
    const leaks: Leak[] = [];
    const exits: string[] = [];
    await inPool(runs, 4, async ({ c, args }) => {
      const run = await runProcess(process.execPath, [TASKBUS_BIN, ...args], { env: { AMQP_URL: c.url } });
      // /m: Node may warn first (DEP0123 for amqps:// to an IP address).
      if (run.code !== 1 || !/^taskbus: /m.test(run.stderr)) exits.push(`${c.kind}: ${args[0]} exited ${run.code}: ${run.stderr.slice(0, 200)}`);
      leaks.push(...leaksIn(c, `${args[0]} stdout`, run.stdout), ...leaksIn(c, `${args[0]} stderr`, run.stderr));
    });
    expect(exits.slice(0, 10)).to.deep.equal([]);
    expect(leaks.slice(0, 10)).to.deep.equal([]);
  });
});
