import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWorker, silentLogger, type Worker } from '@taskbus/runtime';
import { expect } from 'chai';
import { bindPusherHandlers, type PusherHandlers } from 'pusher-bindings';
import { deleteQueues, uniqueQueue } from '../support/broker.js';
import { runProcess, type ProcessRun } from '../support/process.js';
import { celeryVersions, PY_BINDINGS, PY_DIR, PYTHON } from '../support/python.js';

interface Report {
  readonly celery: string;
  readonly file: string;
  readonly version: string;
  readonly refused: Record<string, string>;
  readonly [call: string]: unknown;
}

/** Runs a command and fails with its output when it does not exit 0. */
async function mustRun(command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<ProcessRun> {
  const run = await runProcess(command, args, { env: { PYTHONPATH: '', PIP_NO_INPUT: '1', ...env } });
  expect(run.code, `${command} ${args.join(' ')}\n${run.stdout}\n${run.stderr}`).to.equal(0);
  return run;
}

describe('generated Python bindings installed with pip into a fresh venv, calling a TypeScript pusher', function () {
  this.timeout(120_000);
  const queue = uniqueQueue('py-package');
  let received: unknown[][] = [];
  let dir: string;
  let venv: string;
  let worker: Worker;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'taskbus-pip-'));
    venv = join(dir, 'venv');
    // pip builds in the source tree (build/, *.egg-info): build a copy, never generated/ itself.
    cpSync(PY_BINDINGS, join(dir, 'pusher-bindings'), { recursive: true });
    // System site packages so Debian's Celery is visible; no index, no build isolation: Debian's setuptools, no network.
    await mustRun(PYTHON, ['-m', 'venv', '--system-site-packages', venv]);
    await mustRun(join(venv, 'bin/pip'), ['install', '--no-index', '--no-build-isolation', join(dir, 'pusher-bindings')]);

    // A pusher-like worker that records what it was asked to do.
    const stored = (key: string) => ({ bucket: 'memory', key, etag: `"${received.length}"` });
    const handlers: PusherHandlers = {
      sendToS3: (key, content) => (received.push(['sendToS3', key, content]), stored(key)),
      sendToS3V2: (key, content, meta) => (received.push(['sendToS3V2', key, content, meta]), stored(key)),
    };
    worker = createWorker({ queues: [queue], logger: silentLogger });
    bindPusherHandlers(worker, handlers);
    await worker.start();
  });
  after(async () => {
    await worker?.stop();
    await deleteQueues(queue);
    rmSync(dir, { recursive: true, force: true });
  });

  // One venv (its Celery is Debian's, through system site packages); each Celery is put in front with PYTHONPATH.
  for (const celery of celeryVersions) {
    it(`${celery.name}: imports pusher_bindings from the venv and calls v1 and v2 through the seed's delegate; unknown versions and wrong arguments send nothing`, async () => {
      received = [];
      const run = await mustRun(join(venv, 'bin/python'), [join(PY_DIR, 'installed_caller.py'), queue], {
        AMQP_URL: process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672',
        PYTHONPATH: celery.pythonPath().join(':'),
      });
      const report = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as Report;
      expect(report.celery).to.match(celery.expect);

      expect(report.file.startsWith(`${venv}/lib/`) && report.file.endsWith('/site-packages/pusher_bindings.py'), report.file).to.equal(true);
      expect(report.version).to.equal('1.0.0');
      expect(report['v1']).to.deep.equal({ bucket: 'memory', key: 'inst/v1.json', etag: '"1"' });
      expect(report['v2']).to.deep.include({ key: 'inst/v2.json' });
      const known = 'known versions: 1, 2';
      expect(report.refused).to.deep.equal({
        '2.9': `ValueError: send_to_s3 has no version 2.9; ${known}`,
        "'2.9'": `ValueError: send_to_s3 has no version '2.9'; ${known}`,
        "'x'": `ValueError: send_to_s3 has no version 'x'; ${known}`,
        '0': `ValueError: send_to_s3 has no version 0; ${known}`,
        '3': `ValueError: send_to_s3 has no version 3; ${known}`,
        True: `ValueError: send_to_s3 has no version True; ${known}`,
        False: `ValueError: send_to_s3 has no version False; ${known}`,
        None: `ValueError: send_to_s3 has no version None; ${known}`,
      });
      expect(report['v1-with-meta']).to.equal('TypeError: send_to_s3 version 1 takes no meta (it takes key, content)');
      expect(report['v2-without-meta']).to.equal('TypeError: send_to_s3 version 2 needs meta');
      expect(received).to.deep.equal([
        ['sendToS3', 'inst/v1.json', 'v1 body'],
        ['sendToS3', 'inst/v1-text.json', 'v1 text'],
        ['sendToS3V2', 'inst/v2.json', 'v2 body', { contentType: 'text/plain' }],
        ['sendToS3V2', 'inst/v2p.json', 'v2p', { tags: { a: 'b' } }],
        ['sendToS3', 'inst/task.json', 'direct'],
        ['sendToS3', 'inst/last.json', 'last'],
      ]);
    });
  }
});
