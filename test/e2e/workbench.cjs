// Headless Debian Chromium driven by playwright-core (found through NODE_PATH, set by scripts/e2e.sh), pointed at a
// code-server workbench. Shared by the UI test and the extension-host test driver.
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// Playwright refuses --user-data-dir here: the profile is launchPersistentContext's first argument.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** A fresh Chromium profile under runDir; HOME and XDG dirs too, so nothing lands in the real $HOME. */
async function openBrowser(runDir) {
  const profile = fs.mkdtempSync(path.join(runDir, 'chromium-profile-'));
  const home = path.join(runDir, 'chromium-home');
  fs.mkdirSync(home, { recursive: true });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: CHROMIUM_ARGS,
    env: { ...process.env, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'), XDG_CACHE_HOME: path.join(home, '.cache') },
  });
  const page = context.pages()[0] || (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Prints timestamped progress lines, so a slow step is visible in CI logs. */
function lapLogger(prefix) {
  const t0 = Date.now();
  return (message) => console.log(`[${prefix} ${((Date.now() - t0) / 1000).toFixed(1)}s] ${message}`);
}

module.exports = { openBrowser, lapLogger };
