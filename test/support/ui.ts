import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { AMQP_URL, waitFor } from './broker.js';
import { TASKBUS_BIN } from './cli.js';
import { startBackground } from './process.js';

/** Debian's Chromium (scripts/test-deps.ts installs it); playwright-core brings no browser of its own. */
export const CHROMIUM = '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
}

/**
 * Where a test's screenshot goes: the README's copy in docs/ with UI_SCREENSHOTS=1, else the temp dir, so that
 * a test run leaves the checked-in pictures (and the work tree) as they are.
 */
export const screenshotPath = (name: string): string => (process.env['UI_SCREENSHOTS'] === '1' ? join('docs', name) : join(tmpdir(), `taskbus-${name}`));

/** A page of `url` in a new headless Chromium, at the size of the README's screenshots. */
export async function openPage(url: string): Promise<{ browser: Browser; page: Page }> {
  const browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(url);
  return { browser, page };
}

export interface UiProcess {
  readonly url: string;
  readonly output: () => string;
  stop(): Promise<void>;
}

/** `taskbus ui` as a user runs it, until its first line tells the URL. */
export async function startUi(cwd: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<UiProcess> {
  const { child, output, stop } = startBackground(process.execPath, [TASKBUS_BIN, 'ui', ...args], { cwd, env: { ...process.env, AMQP_URL, ...env } });
  try {
    const url = await waitFor('taskbus ui to listen', () => {
      if (child.exitCode !== null) throw new Error(`taskbus ui exited ${child.exitCode}: ${output()}`);
      return /taskbus ui: (http:\/\/\S+)/.exec(output())?.[1];
    });
    return { url, output, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

export interface HttpAnswer {
  readonly status: number;
  readonly body: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** A raw HTTP request, headers (Host too) exactly as given: what a hostile page or script could send. */
export function http(url: string, method: string, headers: Record<string, string>, body?: string): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
    });
    req.once('error', reject);
    req.end(body);
  });
}

/** The CSRF token the served page holds. */
export async function csrfOf(url: string): Promise<string> {
  const page = await http(url, 'GET', {});
  const token = /name="taskbus-csrf" content="([^"]+)"/.exec(page.body)?.[1];
  if (!token) throw new Error(`no CSRF token in the page (${page.status})`);
  return token;
}

/** Waits until the page (live, never reloaded) shows exactly `want` at `selector`. */
export function waitForText(page: Page, selector: string, want: string): Promise<true> {
  return waitFor(
    `${selector} to show ${want}`,
    async () => ((await page.locator(selector).first().textContent({ timeout: 1000 }).catch(() => null)) === want ? true : undefined),
    20_000,
  );
}

/** Waits until the page has rendered at least `n` samples (its body's data-samples). */
export function waitForSamples(page: Page, n: number): Promise<true> {
  return waitFor(`${n} samples on the page`, async () => (Number(await page.locator('body').getAttribute('data-samples')) >= n ? true : undefined), 20_000);
}
