import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AMQP_URL, waitFor } from './broker.js';
import { runProcess, startBackground, type ProcessRun } from './process.js';

export const PYTHON = '/usr/bin/python3';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const PY_DIR = join(ROOT, 'test/interop/py');
export const PY_BINDINGS = join(ROOT, 'generated/pusher-bindings/python');
/** Third-party test tools the registries here do not serve; a sibling of the project, as on CI. */
export const VENDOR_DIR = join(ROOT, '../shared/vendor');

/** Queue types a Celery fleet can declare its task queues with (quorum needs Celery 5.5+). */
export type QueueType = 'classic' | 'quorum';

/** One Celery release the interop suites run against. */
export interface CeleryVersion {
  /** Used in describe titles: `Celery 5.2`. */
  readonly name: string;
  /** Folder of its captures under test/fixtures/. */
  readonly fixtures: string;
  /** What `celery.__version__` must say, so a test never silently runs another Celery. */
  readonly expect: RegExp;
  /** Celery 5.3+ stamps tasks (`stamped_headers`, `stamps` headers). */
  readonly stamping: boolean;
  /** Celery 5.5+ can run a fleet on quorum queues with native delayed delivery. */
  readonly quorum: boolean;
  /** PYTHONPATH entries that make `/usr/bin/python3` import this Celery (set up on first use). */
  pythonPath(): readonly string[];
}

/** Extracts a vendored pure-Python bundle once per content into the temp dir, and returns where. */
export function vendoredBundle(file: string, vendorDir = VENDOR_DIR): string {
  const tarball = join(vendorDir, file);
  if (!existsSync(tarball)) {
    throw new Error(`${tarball} is missing: the interop tests need the vendored Celery bundle next to the project (../shared/vendor/${file})`);
  }
  const digest = createHash('sha256').update(readFileSync(tarball)).digest('hex').slice(0, 12);
  const dir = join(tmpdir(), `taskbus-vendor-${file.replace(/\.tar\.gz$/, '')}-${digest}`);
  if (existsSync(join(dir, 'celery/__init__.py'))) return dir;
  // Extract beside it and rename: a concurrent run or a killed extraction never leaves a half bundle in place.
  const partial = mkdtempSync(`${dir}.partial-`);
  const tar = spawnSync('tar', ['xzf', tarball, '-C', partial], { encoding: 'utf8' });
  if (tar.status !== 0) throw new Error(`extracting ${tarball} failed: ${tar.stderr}`);
  try {
    renameSync(partial, dir);
  } catch (e) {
    rmSync(partial, { recursive: true, force: true });
    if (!existsSync(join(dir, 'celery/__init__.py'))) throw e;
  }
  return dir;
}

/** Debian's python3-celery, and the vendored pure-Python 5.6.3 with kombu 5.6 on the same interpreter. */
export const celeryVersions: readonly CeleryVersion[] = [
  { name: 'Celery 5.2', fixtures: 'celery-5.2', expect: /^5\.2\.\d+$/, stamping: false, quorum: false, pythonPath: () => [] },
  {
    name: 'Celery 5.6',
    fixtures: 'celery-5.6',
    expect: /^5\.6\.3$/,
    stamping: true,
    quorum: true,
    pythonPath: () => [vendoredBundle('celery-5.6.3-py3.tar.gz')],
  },
];

/** The Celery version the interop suites default to where one version is enough (the first). */
export const DEFAULT_CELERY = celeryVersions[0]!;

/** Environment for a Python process using `celery` (and `extra` importable too). */
export function pythonEnv(celery: CeleryVersion, extra: readonly string[] = []): NodeJS.ProcessEnv {
  const path = [...celery.pythonPath(), ...extra].join(':');
  return { AMQP_URL, PYTHONPATH: path };
}

/** Fails unless `/usr/bin/python3` with this version's path imports exactly the Celery it names. */
export async function checkCeleryVersion(celery: CeleryVersion): Promise<string> {
  const run = await runProcess(PYTHON, ['-c', 'import celery; print(celery.__version__)'], { env: pythonEnv(celery) });
  const seen = run.stdout.trim();
  if (run.code !== 0 || !celery.expect.test(seen)) {
    throw new Error(`${celery.name}: python reports celery ${JSON.stringify(seen)}, expected ${celery.expect}\n${run.stderr}`);
  }
  return seen;
}

export interface PythonWorker {
  readonly output: () => string;
  stop(): Promise<void>;
}

export interface CeleryWorkerOptions {
  readonly celery?: CeleryVersion;
  /** How the fleet declares its queues; pusher_app reads it (quorum: Celery 5.5+ settings). */
  readonly queueType?: QueueType;
  /** Another broker URL than AMQP_URL (a test's own virtual host). */
  readonly amqpUrl?: string;
  /** Sync with the other workers at start (Celery's mingle: their revoked ids); off unless asked. */
  readonly mingle?: boolean;
  /** The Celery app module of test/interop/py (default pusher_app). */
  readonly app?: string;
  /** Celery's pool: solo by default; prefork where a test needs what only it does (time limits). */
  readonly pool?: 'solo' | 'prefork';
}

/** A real Celery worker on the given queue, running test/interop/py/pusher_app.py. */
export async function startCeleryWorker(queue: string, outDir: string, options: CeleryWorkerOptions = {}): Promise<PythonWorker> {
  const celery = options.celery ?? DEFAULT_CELERY;
  const { child, output: all, stop } = startBackground(
    PYTHON,
    ['-m', 'celery', '-A', options.app ?? 'pusher_app', 'worker', '-Q', queue, ...(options.pool === 'prefork' ? ['-P', 'prefork', '-c', '1'] : ['-P', 'solo']), '-n', `${queue}@%h`, '--without-gossip', ...(options.mingle ? [] : ['--without-mingle']), '--without-heartbeat', '-l', 'INFO'],
    {
      cwd: PY_DIR,
      env: { ...process.env, ...pythonEnv(celery), ...(options.amqpUrl ? { AMQP_URL: options.amqpUrl } : {}), INTEROP_OUT: outDir, INTEROP_QUEUE_TYPE: options.queueType ?? 'classic' },
    },
  );
  try {
    await waitFor('the Celery worker to be ready', () => {
      if (child.exitCode !== null) throw new Error(`celery worker exited ${child.exitCode}:\n${all()}`);
      return /\bready\.\s*$/m.test(all()) ? true : undefined;
    }, 30_000);
    // The banner names the running release: the worker, not only `import celery`, must be the expected one.
    const banner = /\bv(\d+\.\d+\.\d+) \(/.exec(all())?.[1] ?? '';
    if (!celery.expect.test(banner)) throw new Error(`${celery.name}: the worker's banner says v${banner}, expected ${celery.expect}\n${all()}`);
  } catch (e) {
    await stop();
    throw e;
  }
  return { output: all, stop };
}

/** Runs a Python script of test/interop/py with the generated bindings importable. */
export function runPython(script: string, args: readonly string[], celery: CeleryVersion = DEFAULT_CELERY, env: NodeJS.ProcessEnv = {}): Promise<ProcessRun> {
  return runProcess(PYTHON, [script, ...args], { cwd: PY_DIR, env: { ...pythonEnv(celery, [PY_BINDINGS]), ...env } });
}


/** One Python side the interop suites run against: a Celery release, and the queue type its fleet declares. */
export interface InteropTarget {
  readonly celery: CeleryVersion;
  readonly queueType: QueueType;
  /** For describe titles: `Celery 5.6, quorum queues`. */
  readonly title: string;
}

/** Every Celery on classic queues, and those that can on quorum queues (`quorum: true` asks for those only). */
export function interopTargets(filter: { quorum?: boolean } = {}): InteropTarget[] {
  const all = celeryVersions.flatMap((celery) => [
    { celery, queueType: 'classic' as const, title: `${celery.name}, classic queues` },
    ...(celery.quorum ? [{ celery, queueType: 'quorum' as const, title: `${celery.name}, quorum queues` }] : []),
  ]);
  return all.filter((t) => filter.quorum === undefined || (t.queueType === 'quorum') === filter.quorum);
}
