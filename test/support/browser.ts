import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';

/**
 * A real headless Chromium for browser tests: the machine's /usr/bin/chromium when there is
 * one, else the binary packed in @sparticuz/chromium (Linux x64), inflated once into the
 * system temp folder. Callers close the browser they launch.
 */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: await chromiumPath(),
    headless: true,
    // Playwright adds its own automation switches (no background networking, component
    // updates, extensions, default apps, dev-shm...); these are the ones it leaves out or that
    // we want regardless of the binary. Deliberately not @sparticuz/chromium's `args`: they are
    // for Lambda and include --disable-web-security and --single-process, which would hide
    // origin bugs and put every page in one process.
    args: [
      '--no-sandbox', // we run as root in containers, where the sandbox cannot start
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--no-default-browser-check',
      '--mute-audio',
      '--hide-scrollbars',
      '--font-render-hinting=none', // the same text metrics on every machine
    ],
  });
}

const SYSTEM_CHROMIUM = '/usr/bin/chromium';
const execFileAsync = promisify(execFile);

async function chromiumPath(): Promise<string> {
  if (existsSync(SYSTEM_CHROMIUM)) return SYSTEM_CHROMIUM;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `No Chromium for browser tests: ${SYSTEM_CHROMIUM} is missing and @sparticuz/chromium only ships Linux x64. ` +
        'Install Chromium at that path.',
    );
  }
  return withInflateLock(inflateSparticuzChromium);
}

/**
 * @sparticuz/chromium's executablePath() inflates to <tmpdir>/chromium and returns that path
 * as soon as the file exists, even while another process is still writing it, or after a run
 * was killed halfway. Test files run in parallel processes, so we inflate under a lock and
 * check the binary runs before trusting it.
 */
async function inflateSparticuzChromium(): Promise<string> {
  const { default: sparticuz } = await import('@sparticuz/chromium');
  const binary = path.join(os.tmpdir(), 'chromium');
  if (existsSync(binary) && !(await runs(binary))) await fs.rm(binary, { force: true });
  const inflated = await sparticuz.executablePath();
  if (!(await runs(inflated))) {
    await fs.rm(inflated, { force: true });
    throw new Error(`@sparticuz/chromium inflated ${inflated}, but it does not run; it was removed, try again.`);
  }
  return inflated;
}

async function runs(binary: string): Promise<boolean> {
  try {
    const { stdout } = await execFileAsync(binary, ['--version'], { timeout: 10_000 });
    return /Chrom/.test(stdout);
  } catch {
    return false;
  }
}

/** A cross-process lock: mkdir is atomic; a lock older than two minutes is a killed holder's. */
async function withInflateLock<T>(work: () => Promise<T>): Promise<T> {
  const lock = path.join(os.tmpdir(), 'flashcast-chromium.lock');
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      await fs.mkdir(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const stat = await fs.stat(lock).catch(() => undefined);
      if (stat && Date.now() - stat.mtimeMs > 120_000) await fs.rm(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`Timed out waiting for ${lock}; remove it if no test run is inflating Chromium.`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  try {
    return await work();
  } finally {
    await fs.rm(lock, { recursive: true, force: true });
  }
}
