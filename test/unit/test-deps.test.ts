import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { runProcess } from '../support/process.js';
import { celeryImportable, packagingImportable, plan, PYTHON, type Machine, type Plan } from '../../scripts/test-deps.js';

const ready: Machine = { isRoot: true, celery: true, pythonPackaging: true, chromium: true, brokerLocal: true, brokerUp: true, rabbitInstalled: true, rabbitNodeUp: true };
const update = { command: 'apt-get', args: ['update', '-qq'] };
const install = (...packages: string[]) => ({ command: 'apt-get', args: ['install', '-y', '-qq', ...packages], env: { DEBIAN_FRONTEND: 'noninteractive' } });
const start = { command: 'rabbitmq-server', args: ['-detached'] };
const awaitStartup = { command: 'rabbitmqctl', args: ['-q', 'await_startup'] };

describe('scripts/test-deps: what npm test installs or asks for', () => {
  const cases: [string, Partial<Machine>, Plan][] = [
    ['everything there: nothing to do', {}, { ok: true, run: [] }],
    ['fresh machine as root, no celery: apt-get update, then install it', { celery: false }, { ok: true, run: [update, install('python3-celery')] }],
    [
      'no venv, pip or setuptools, as root: the three Debian packages',
      { pythonPackaging: false },
      { ok: true, run: [update, install('python3-venv', 'python3-pip', 'python3-setuptools')] },
    ],
    ['no Chromium, as root: install Debian\'s chromium (the dashboard\'s browser test)', { chromium: false }, { ok: true, run: [update, install('chromium')] }],
    [
      'not root, no Chromium: one line naming the command',
      { isRoot: false, chromium: false },
      { ok: false, message: 'taskbus: npm test needs Chromium (chromium); run `sudo apt-get install -y chromium` (or run npm test as root, which does it)' },
    ],
    ['RabbitMQ installed but down: start it and wait', { brokerUp: false, rabbitNodeUp: false }, { ok: true, run: [start, awaitStartup] }],
    ['RabbitMQ node up, app not yet: only wait (never a second node)', { brokerUp: false }, { ok: true, run: [awaitStartup] }],
    [
      'nothing installed, as root: every package, then start',
      { celery: false, pythonPackaging: false, chromium: false, brokerUp: false, rabbitInstalled: false, rabbitNodeUp: false },
      { ok: true, run: [update, install('rabbitmq-server', 'python3-celery', 'python3-venv', 'python3-pip', 'python3-setuptools', 'chromium'), start, awaitStartup] },
    ],
    ['a remote broker that is down is not ours to start', { brokerLocal: false, brokerUp: false, rabbitInstalled: false, rabbitNodeUp: false }, { ok: true, run: [] }],
    ['not root, everything there: nothing to do', { isRoot: false }, { ok: true, run: [] }],
    [
      'not root, no celery: one line naming the command',
      { isRoot: false, celery: false },
      { ok: false, message: 'taskbus: npm test needs Python Celery (python3-celery); run `sudo apt-get install -y python3-celery` (or run npm test as root, which does it)' },
    ],
    [
      'not root, no venv, pip or setuptools: one line naming the command',
      { isRoot: false, pythonPackaging: false },
      {
        ok: false,
        message:
          'taskbus: npm test needs Python venv, pip and setuptools (python3-venv, python3-pip, python3-setuptools); run `sudo apt-get install -y python3-venv python3-pip python3-setuptools` (or run npm test as root, which does it)',
      },
    ],
    [
      'not root, no celery and the broker down',
      { isRoot: false, celery: false, brokerUp: false, rabbitNodeUp: false },
      { ok: false, message: 'taskbus: npm test needs Python Celery (python3-celery) and a running RabbitMQ; run `sudo apt-get install -y python3-celery && sudo rabbitmq-server -detached` (or run npm test as root, which does it)' },
    ],
  ];
  for (const [name, found, want] of cases) {
    it(name, () => expect(plan({ ...ready, ...found })).to.deep.equal(want));
  }

  it('probes celery by importing it: this machine has it, a python that cannot import it or does not exist has not', () => {
    expect(celeryImportable(PYTHON)).to.equal(true);
    expect(celeryImportable('/bin/false')).to.equal(false);
    expect(celeryImportable('/nonexistent/python3')).to.equal(false);
  });

  it('probes venv, pip and setuptools by importing them: this machine has them, a missing python has not', () => {
    expect(packagingImportable(PYTHON)).to.equal(true);
    expect(packagingImportable('/bin/false')).to.equal(false);
    expect(packagingImportable('/nonexistent/python3')).to.equal(false);
  });

  it('run as a user who is not root on a machine whose celery cannot be imported, it stops with the command to run', async function () {
    if (process.getuid?.() !== 0) this.skip(); // needs root to drop to another user
    // A celery module that fails to import shadows the installed one, so nothing is uninstalled.
    const shadow = mkdtempSync(join(tmpdir(), 'taskbus-nocelery-'));
    chmodSync(shadow, 0o755);
    writeFileSync(join(shadow, 'celery.py'), 'raise ImportError("shadowed by the test")\n');
    try {
      const run = await runProcess('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--import', 'tsx', 'scripts/test-deps.ts'], {
        env: { PYTHONPATH: shadow, HOME: tmpdir() },
      });
      expect(run.code).to.equal(1);
      expect(run.stderr.trim()).to.equal('taskbus: npm test needs Python Celery (python3-celery); run `sudo apt-get install -y python3-celery` (or run npm test as root, which does it)');
    } finally {
      rmSync(shadow, { recursive: true, force: true });
    }
  });
});
