import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { connectClient, createWorker, defineTask, RemoteTaskError, silentLogger, type TaskClient, type Worker } from '@taskbus/runtime';
import { expect } from 'chai';
import { deleteQueues, remoteFailure, uniqueQueue } from '../support/broker.js';
import { taskbus } from '../support/cli.js';
import { runProcess } from '../support/process.js';
import { celeryVersions, checkCeleryVersion, PY_DIR, PYTHON, pythonEnv, runPython, startCeleryWorker, type CeleryVersion, type PythonWorker } from '../support/python.js';

/** pusher.send_to_s3 as the Python pusher declares it; the TypeScript side keeps what it ran in memory. */
const sendToS3 = (queue: string) =>
  defineTask<[key: string, content: string], Record<string, never>, { bucket: string; key: string; etag: string }>({
    name: 'pusher.send_to_s3',
    queue,
    args: { key: Type.String(), content: Type.String() },
    result: Type.Object({ bucket: Type.String(), key: Type.String(), etag: Type.String() }),
  });

function suite(celery: CeleryVersion): void {
  describe(`Celery remote control both ways, ${celery.name} (pidbox, revoke, mingle)`, function () {
    this.timeout(90_000);
    const pyQueue = uniqueQueue('py-ctl');
    const tsQueue = uniqueQueue('ts-ctl');
    const queues = [pyQueue, tsQueue];
    const outDir = mkdtempSync(join(tmpdir(), 'taskbus-ctl-'));
    const ran: string[] = [];
    const workers: Worker[] = [];
    const pythons: PythonWorker[] = [];
    let client: TaskClient;
    let ts: Worker;
    let py: PythonWorker;

    const celeryCli = (...args: string[]) => runProcess(PYTHON, ['-m', 'celery', '-A', 'pusher_app', ...args], { cwd: PY_DIR, env: pythonEnv(celery) });
    const python = async (...args: string[]) => {
      const run = await runPython('control_caller.py', args, celery);
      expect(run.code, run.stderr).to.equal(0);
      const out = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
      expect(out['celery'], 'the Celery that ran the caller').to.match(celery.expect);
      return out;
    };

    function tsWorker(queue: string): Worker {
      const w = createWorker({ queues: [queue], logger: silentLogger, name: `${queue}@%h` });
      w.register(sendToS3(queue), ([key]) => {
        ran.push(key);
        return { bucket: 'ts', key, etag: 'e' };
      });
      workers.push(w);
      return w;
    }

    before(async () => {
      await checkCeleryVersion(celery);
      py = await startCeleryWorker(pyQueue, outDir, { celery });
      pythons.push(py);
      ts = tsWorker(tsQueue);
      await ts.start();
      client = await connectClient({ logger: silentLogger });
    });

    after(async () => {
      await Promise.all(workers.map((w) => w.stop()));
      await Promise.all(pythons.map((p) => p.stop()));
      await client?.close();
      await deleteQueues(...queues);
      rmSync(outDir, { recursive: true, force: true });
    });



    it('`celery inspect ping`, `registered` and `active_queues` list the TypeScript worker beside the Python one', async () => {
      const ping = await celeryCli('inspect', 'ping', '--timeout', '2');
      expect(ping.code, ping.stderr + ping.stdout).to.equal(0);
      expect(ping.stdout).to.match(new RegExp(`->\\s+${ts.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: OK\\s+pong`));
      expect(ping.stdout).to.include(`${pyQueue}@`);
      const registered = await python('inspect', 'registered');
      expect((registered['replies'] as Record<string, unknown>)[ts.name]).to.deep.equal(['pusher.send_to_s3']);
      const queues = await python('inspect', 'active_queues');
      const mine = (queues['replies'] as Record<string, { name: string }[]>)[ts.name]!;
      expect(mine.map((q) => q.name)).to.deep.equal([tsQueue]);
      const stats = await python('inspect', 'stats');
      expect((stats['replies'] as Record<string, Record<string, unknown>>)[ts.name]).to.deep.include({ pid: process.pid, sw_ident: 'taskbus' });
    });

    it('`taskbus inspect ping` lists the Python worker and the TypeScript worker, one line each', async () => {
      const out = await taskbus(process.cwd(), 'inspect', 'ping', '--timeout', '2000');
      expect(out.code, out.stderr).to.equal(0);
      const lines = out.stdout.trim().split('\n');
      expect(lines).to.include(`${ts.name}: pong`);
      expect(lines.some((l) => l.startsWith(`${pyQueue}@`) && l.endsWith(': pong'))).to.equal(true);
      const json = await taskbus(process.cwd(), 'inspect', 'registered', '--json', '--timeout', '2000');
      const nodes = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { node: string; reply: unknown });
      const python = nodes.find((n) => n.node.startsWith(`${pyQueue}@`));
      expect(python?.reply).to.include('pusher.send_to_s3');
      expect(nodes.find((n) => n.node === ts.name)?.reply).to.deep.equal(['pusher.send_to_s3']);
    });

    it('app.control.revoke from Python stops a countdown task on the TypeScript worker; AsyncResult gets REVOKED', async () => {
      const out = await python('send-and-revoke', tsQueue);
      expect(out).to.deep.include({ ok: false, type: 'TaskRevokedError', state: 'REVOKED' });
      expect(ran).to.not.include('py/revoked.json');
    });

    it('`taskbus revoke` stops a countdown task on the Python worker; the caller gets REVOKED', async () => {
      const sent = await client.send(sendToS3(pyQueue), ['ts/revoked.json', 'never'], {}, { countdown: 3 });
      const out = await taskbus(process.cwd(), 'revoke', sent.id, '--timeout', '2000');
      expect(out.code, out.stderr).to.equal(0);
      // Celery 5.6 writes the ids as a Python set: tasks {'<id>'} flagged as revoked.
      expect(out.stdout).to.match(new RegExp(`${pyQueue}@\\S+: tasks \\W*${sent.id}\\W* flagged as revoked`));
      expect(out.stdout).to.include(`${ts.name}: tasks ${sent.id} flagged as revoked`);
      const e = await remoteFailure(sent.result({ timeoutMs: 20_000 }));
      expect(e).to.include({ state: 'REVOKED' });
      expect(e.message).to.match(/TaskRevokedError/);
      expect(existsSync(join(outDir, 'ts/revoked.json'))).to.equal(false);
    });

    it('a TypeScript worker started after a Python revoke learns it from the live Python worker (hello) and refuses the task', async () => {
      const late = uniqueQueue('ts-ctl-late');
      queues.push(late);
      // Queued, then revoked from Python, while no worker consumes the queue; only the Python worker (and the
      // first TypeScript one) hears the revoke. Stopping the first TypeScript worker leaves Python as the only memory.
      const sent = await client.send(sendToS3(late), ['ts/late.json', 'never'], {});
      await python('revoke', sent.id);
      await ts.stop();
      const py2 = await python('inspect', 'revoked');
      expect(Object.values(py2['replies'] as Record<string, string[]>).flat()).to.include(sent.id);
      const w = tsWorker(late);
      await w.start();
      expect((await remoteFailure(sent.result({ timeoutMs: 20_000 }))).state).to.equal('REVOKED');
      expect(ran).to.not.include('ts/late.json');
      ts = tsWorker(tsQueue);
      await ts.start();
    });

    it('a Python worker started with mingle learns a revoke only a TypeScript worker holds, and refuses the task', async () => {
      const pyLate = uniqueQueue('py-ctl-late');
      queues.push(pyLate);
      const sent = await client.send(sendToS3(pyLate), ['ts/py-late.json', 'never'], {});
      // Only the TypeScript worker is told.
      const out = await taskbus(process.cwd(), 'revoke', sent.id, '--destination', ts.name);
      expect(out.code, out.stderr).to.equal(0);
      const late = await startCeleryWorker(pyLate, outDir, { celery, mingle: true });
      pythons.push(late);
      expect(late.output()).to.match(/mingle: sync with \d+ nodes/);
      expect((await remoteFailure(sent.result({ timeoutMs: 20_000 }))).state).to.equal('REVOKED');
      expect(existsSync(join(outDir, 'ts/py-late.json'))).to.equal(false);
    });
  });
}

for (const celery of celeryVersions) suite(celery);
