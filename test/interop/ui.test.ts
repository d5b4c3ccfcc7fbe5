import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { connectClient, createWorker, defineTask, silentLogger, type TaskClient, type Worker } from '@taskbus/runtime';
import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import { deleteQueues, uniqueQueue } from '../support/broker.js';
import { runProcess } from '../support/process.js';
import { checkCeleryVersion, DEFAULT_CELERY, PY_DIR, PYTHON, pythonEnv, startCeleryWorker, type PythonWorker } from '../support/python.js';
import { openPage, startUi, waitForSamples, type UiProcess } from '../support/ui.js';

// Ports 18092-18093 are this suite's to use.
const PORT = 18_092;
const CONTRACTS = join(process.cwd(), 'contracts');

/** The dashboard against a Python Celery 5.2 worker beside a TypeScript one. */
describe(`taskbus ui with a Python Celery worker (${DEFAULT_CELERY.name})`, function () {
  this.timeout(120_000);
  const pyQueue = uniqueQueue('ui-py');
  const tsQueue = uniqueQueue('ui-ts');
  const outDir = mkdtempSync(join(tmpdir(), 'taskbus-ui-py-'));
  const sendToS3 = defineTask<[key: string, content: string], Record<string, never>, unknown>({
    name: 'pusher.send_to_s3',
    queue: pyQueue,
    args: { key: Type.String(), content: Type.String() },
    result: Type.Unknown(),
  });
  let py: PythonWorker;
  let ts: Worker;
  let client: TaskClient;
  let ui: UiProcess;
  let browser: Browser;
  let page: Page;

  before(async () => {
    await checkCeleryVersion(DEFAULT_CELERY);
    py = await startCeleryWorker(pyQueue, outDir);
    ts = createWorker({ logger: silentLogger, queues: [tsQueue], name: `${tsQueue}@%h`, metrics: { port: 0 } });
    ts.register(defineTask({ name: 'ui.ts_job', queue: tsQueue, args: {}, result: Type.Null() }), () => null);
    await ts.start();
    client = await connectClient({ logger: silentLogger });
    for (let i = 0; i < 3; i++) await (await client.send(sendToS3, [`k${i}`, '{}'], {})).result({ timeoutMs: 30_000 });
    ui = await startUi(outDir, ['--port', String(PORT), '--interval', '1', '--contracts', CONTRACTS]);
    ({ browser, page } = await openPage(ui.url));
  });

  after(async () => {
    await browser?.close();
    await ui?.stop();
    await client?.close();
    await ts?.stop();
    await py?.stop();
    await deleteQueues(pyQueue, tsQueue);
    rmSync(outDir, { recursive: true, force: true });
  });

  it('lists the Celery worker as Python with its queue, its tasks (versions from the contracts) and what it ran', async () => {
    const row = page.locator(`tr[data-node^="${pyQueue}@"][data-language="Python"]`);
    await row.waitFor({ timeout: 20_000 });
    expect(await row.locator('td[data-col="language"]').textContent()).to.equal('Python');
    expect(await row.locator('td[data-col="software"]').textContent()).to.equal('celery (concurrency 1)');
    expect(await row.locator('td[data-col="queues"]').textContent()).to.equal(pyQueue);
    const tasks = (await row.locator('td[data-col="tasks"]').textContent())!.split(', ');
    expect(tasks).to.include.members(['pusher.send_to_s3 v1', 'pusher.send_to_s3_v2 v2', 'interop.fail']);
    expect(await row.locator('td[data-col="total"]').textContent()).to.equal('3');
    const task = page.locator('tr[data-task="pusher.send_to_s3"][data-version="1"]');
    expect(await task.locator('td[data-col="celery-total"]').textContent()).to.equal('3');
    expect(await page.locator(`tr[data-node="${ts.name}"] td[data-col="language"]`).textContent()).to.equal('TypeScript');
    expect(await page.locator(`tr[data-queue="${pyQueue}"] td[data-col="consumers"]`).textContent()).to.equal('1');
    await waitForSamples(page, 5); // a few chart points
    await page.screenshot({ path: 'docs/ui-celery.png' });
  });

  it("Celery's own `celery inspect stats` still reads a TypeScript worker's reply with taskbus_metrics in it", async () => {
    const run = await runProcess(PYTHON, ['-m', 'celery', '-A', 'pusher_app', 'inspect', 'stats', '--timeout', '2', '-d', ts.name], { cwd: PY_DIR, env: pythonEnv(DEFAULT_CELERY) });
    expect(run.code, run.stderr + run.stdout).to.equal(0);
    expect(run.stdout).to.include('taskbus_metrics').and.include(String(ts.metricsPort));
  });
});
