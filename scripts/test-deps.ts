// Makes sure the machine has what `npm test` needs besides node_modules: Python Celery for the interop
// tests, venv, pip and setuptools to install the generated Python bindings, Chromium for the dashboard's
// browser test (playwright-core drives Debian's /usr/bin/chromium), and a running RabbitMQ. As
// root it installs (Debian) and starts what is missing; otherwise it stops with one line naming the
// command to run. Run by `pretest` and by .ci/run.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { pathToFileURL } from 'node:url';

export const PYTHON = '/usr/bin/python3';
const PYTHON_PACKAGING = ['python3-venv', 'python3-pip', 'python3-setuptools'];
/** Debian's Chromium, which the `taskbus ui` test drives headless (playwright-core downloads no browser). */
export const CHROMIUM = '/usr/bin/chromium';
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** What was found on the machine. */
export interface Machine {
  readonly isRoot: boolean;
  /** `/usr/bin/python3 -c 'import celery'` succeeds. */
  readonly celery: boolean;
  /** `/usr/bin/python3` can make a venv with pip and build with setuptools (Debian splits these off). */
  readonly pythonPackaging: boolean;
  /** `/usr/bin/chromium` exists. */
  readonly chromium: boolean;
  /** The broker in AMQP_URL is on this machine (otherwise running it is not ours to do). */
  readonly brokerLocal: boolean;
  /** The broker accepts TCP connections. */
  readonly brokerUp: boolean;
  readonly rabbitInstalled: boolean;
  /** `rabbitmqctl status` answers: the node runs, its app may still be starting. */
  readonly rabbitNodeUp: boolean;
}

export interface Command {
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

export type Plan = { readonly ok: true; readonly run: readonly Command[] } | { readonly ok: false; readonly message: string };

/** What to do about the machine: commands to run as root, or the one line that tells a user what to run. */
export function plan(m: Machine): Plan {
  const startBroker = m.brokerLocal && !m.brokerUp;
  const packages = [
    ...(startBroker && !m.rabbitInstalled ? ['rabbitmq-server'] : []),
    ...(m.celery ? [] : ['python3-celery']),
    ...(m.pythonPackaging ? [] : PYTHON_PACKAGING),
    ...(m.chromium ? [] : ['chromium']),
  ];
  if (!m.isRoot) {
    const todo = [
      ...(packages.length > 0 ? [`sudo apt-get install -y ${packages.join(' ')}`] : []),
      ...(startBroker ? ['sudo rabbitmq-server -detached'] : []),
    ];
    if (todo.length === 0) return { ok: true, run: [] };
    const needs = [
      ...(m.celery ? [] : ['Python Celery (python3-celery)']),
      ...(m.pythonPackaging ? [] : [`Python venv, pip and setuptools (${PYTHON_PACKAGING.join(', ')})`]),
      ...(m.chromium ? [] : ['Chromium (chromium)']),
      ...(startBroker ? ['a running RabbitMQ'] : []),
    ].join(' and ');
    return { ok: false, message: `taskbus: npm test needs ${needs}; run \`${todo.join(' && ')}\` (or run npm test as root, which does it)` };
  }
  const run: Command[] = [];
  if (packages.length > 0) {
    run.push({ command: 'apt-get', args: ['update', '-qq'] });
    run.push({ command: 'apt-get', args: ['install', '-y', '-qq', ...packages], env: { DEBIAN_FRONTEND: 'noninteractive' } });
  }
  if (startBroker) {
    // A node that answers is starting or has its app stopped on purpose: wait for it, never start a second.
    if (!m.rabbitNodeUp) run.push({ command: 'rabbitmq-server', args: ['-detached'] });
    run.push({ command: 'rabbitmqctl', args: ['-q', 'await_startup'] });
  }
  return { ok: true, run };
}

const succeeds = (command: string, args: readonly string[]): boolean =>
  spawnSync(command, args, { stdio: 'ignore', timeout: 60_000 }).status === 0;

/** Whether `python` can import celery (false too when there is no such python). */
export const celeryImportable = (python: string): boolean => succeeds(python, ['-c', 'import celery']);

/**
 * Whether `python` can make a venv (Debian ships ensurepip in python3-venv) and has pip and setuptools.
 * setuptools is imported first: imported after pip, its distutils shim fails.
 */
export const packagingImportable = (python: string): boolean => succeeds(python, ['-c', 'import setuptools, ensurepip, pip']);

function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2_000 });
    const done = (up: boolean) => (socket.destroy(), resolve(up));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

async function probe(): Promise<Machine> {
  const url = new URL(process.env['AMQP_URL'] ?? 'amqp://127.0.0.1:5672');
  const brokerUp = await tcpOpen(url.hostname.replace(/^\[|\]$/g, ''), Number(url.port || (url.protocol === 'amqps:' ? 5671 : 5672)));
  const rabbitInstalled = succeeds('sh', ['-c', 'command -v rabbitmq-server']);
  return {
    isRoot: process.getuid?.() === 0,
    celery: celeryImportable(PYTHON),
    pythonPackaging: packagingImportable(PYTHON),
    chromium: existsSync(CHROMIUM),
    brokerLocal: LOCAL_HOSTS.has(url.hostname),
    brokerUp,
    rabbitInstalled,
    rabbitNodeUp: !brokerUp && rabbitInstalled && succeeds('rabbitmqctl', ['-q', 'status']),
  };
}

async function main(): Promise<number> {
  const p = plan(await probe());
  if (!p.ok) {
    console.error(p.message);
    return 1;
  }
  for (const c of p.run) {
    console.error(`test-deps: ${c.command} ${c.args.join(' ')}`);
    const r = spawnSync(c.command, c.args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...c.env } });
    if (r.status !== 0) {
      console.error(`taskbus: \`${c.command} ${c.args.join(' ')}\` failed (${r.error?.message ?? `exit ${r.status}`}); fix that, then run npm test again`);
      return 1;
    }
  }
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = await main();
