import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { connectClient, createWorker, defineTask, silentLogger, type TaskClient, type Worker } from '@taskbus/runtime';
import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import { deleteQueues, uniqueQueue, waitFor } from '../support/broker.js';
import { runProcess } from '../support/process.js';
import { celeryVersions, checkCeleryVersion, DEFAULT_CELERY, PY_DIR, PYTHON, pythonEnv, startCeleryWorker, type CeleryVersion, type PythonWorker } from '../support/python.js';
import { openPage, screenshotPath, startUi, waitForSamples, waitForText, type UiProcess } from '../support/ui.js';

// Ports 18092-18093 are this suite's to use, one per Celery version (TB_UI_PORT_BASE moves them with
// test/integration/ui.test.ts's 18090-18099).
const BASE = Number(process.env['TB_UI_PORT_BASE'] ?? 18_090) + 2;
const CONTRACTS = join(process.cwd(), 'contracts');

/** The dashboard against a Python Celery worker beside a TypeScript one; the README's screenshot with the default Celery. */
function suite(celery: CeleryVersion, port: number): void {
  describe(`taskbus ui with a Python Celery worker (${celery.name})`, function () {
    this.timeout(120_000);
    const pyQueue = uniqueQueue('pusher');
    const tsQueue = uniqueQueue('thumbnails');
    const outDir = mkdtempSync(join(tmpdir(), 'taskbus-ui-py-'));
    const sendToS3 = defineTask<[key: string, content: string], Record<string, never>, unknown>({
      name: 'pusher.send_to_s3',
      queue: pyQueue,
      args: { key: Type.String(), content: Type.String() },
      result: Type.Unknown(),
    });
    const render = defineTask<[image: string], Record<string, never>, string>({ name: 'thumbnails.render', version: 2, queue: tsQueue, args: { image: Type.String() }, result: Type.String() });
    let py: PythonWorker;
    let ts: Worker;
    let client: TaskClient;
    let ui: UiProcess;
    let browser: Browser;
    let page: Page;

    before(async () => {
      await checkCeleryVersion(celery);
      py = await startCeleryWorker(pyQueue, outDir, { celery });
      ts = createWorker({ logger: silentLogger, queues: [tsQueue], name: `${tsQueue}@%h`, metrics: { port: 0 } });
      ts.register(render, async ([image]) => {
        await new Promise((resolve) => setTimeout(resolve, 30 + Math.random() * 40));
        if (image.endsWith('.tiff')) throw new Error(`cannot decode ${image}: unsupported TIFF compression`);
        return `${image}.thumb.png`;
      });
      await ts.start();
      client = await connectClient({ logger: silentLogger });
      for (let i = 0; i < 3; i++) await (await client.send(sendToS3, [`k${i}`, '{}'], {})).result({ timeoutMs: 30_000 });
      ui = await startUi(outDir, ['--port', String(port), '--interval', '1', '--contracts', CONTRACTS]);
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
    });

    it('rates and charts move as both workers run tasks; a TypeScript failure lands in its DLQ', async () => {
      for (let i = 3; i < 9; i++) {
        const pending = client.send(sendToS3, [`k${i}`, '{}'], {}).then((h) => h.result({ timeoutMs: 30_000 }));
        await client.send(render, [i % 5 === 0 ? `scan-${i}.tiff` : `photo-${i}.jpg`], {});
        await pending;
        await page.waitForTimeout(400);
      }
      await waitForText(page, `tr[data-node^="${pyQueue}@"] td[data-col="total"]`, '9');
      await waitForText(page, 'tr[data-task="thumbnails.render"][data-version="2"] td[data-col="succeeded"]', '5');
      await waitForText(page, `tr[data-dlq-queue="${tsQueue}"] td[data-col="count"]`, '1');
      await waitFor('a rate for the Celery task', async () => (Number(await page.locator('tr[data-task="pusher.send_to_s3"][data-version="1"] td[data-col="rate"]').textContent()) > 0 ? true : undefined), 20_000);
      await waitFor('done/s on the Celery worker\'s queue (not the contract\'s)', async () => (Number(await page.locator(`tr[data-queue="${pyQueue}"] td[data-col="done"]`).textContent()) > 0 ? true : undefined), 20_000);
      await waitForSamples(page, 8); // a few chart points
      if (celery === DEFAULT_CELERY) await page.screenshot({ path: screenshotPath('ui-celery.png') });
    });

    it("Celery's own `celery inspect stats` still reads a TypeScript worker's reply with taskbus_metrics in it", async () => {
      const run = await runProcess(PYTHON, ['-m', 'celery', '-A', 'pusher_app', 'inspect', 'stats', '--timeout', '2', '-d', ts.name], { cwd: PY_DIR, env: pythonEnv(celery) });
      expect(run.code, run.stderr + run.stdout).to.equal(0);
      expect(run.stdout).to.include('taskbus_metrics').and.include(String(ts.metricsPort));
    });
  });
}

celeryVersions.forEach((celery, i) => suite(celery, BASE + i));
