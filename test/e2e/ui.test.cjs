// UI end-to-end test: the packaged extension in code-server's workbench, driven in headless Chromium like a user,
// against the demo mesh (demo/run.ts). Each step saves a PNG to $SHOTS. Run by scripts/e2e.sh:
//   mocha --no-config --bail test/e2e/ui.test.cjs   with BASE_URL, DEMO_DIR, RUN_DIR, SHOTS, NODE_PATH (playwright-core)
const assert = require('assert');
const fs = require('fs');
const path = require('path');
const { openBrowser, lapLogger } = require('./workbench.cjs');
const ui = require('./ui.cjs');

const { BASE_URL, DEMO_DIR, RUN_DIR, SHOTS } = process.env;
const lap = lapLogger('ui');

describe('Claudemesh in the VS Code workbench, on the demo mesh', function () {
  let browser;
  let page;
  let demo;
  let shot = 0;

  before(async function () {
    for (const name of ['BASE_URL', 'DEMO_DIR', 'RUN_DIR', 'SHOTS']) assert.ok(process.env[name], `${name} is not set (scripts/e2e.sh sets it)`);
    demo = JSON.parse(fs.readFileSync(path.join(DEMO_DIR, 'demo.json'), 'utf8'));
    fs.mkdirSync(SHOTS, { recursive: true });
    console.log(`screenshots: ${SHOTS}`);
    browser = await openBrowser(RUN_DIR);
    page = browser.page;
    page.on('pageerror', (e) => console.log(`[pageerror] ${e.message}`));
    await page.goto(BASE_URL);
    // On 2 cores the workbench takes ~10 s and activation (onStartupFinished) another ~10 s.
    await page.locator('.monaco-workbench').waitFor({ timeout: 90_000 });
    lap('workbench loaded');
  });

  afterEach(async function () {
    if (!page) return;
    shot++;
    const name = `${String(shot).padStart(2, '0')}-${ui.slug(this.currentTest.title)}${this.currentTest.state === 'failed' ? '-FAILED' : ''}.png`;
    await page.screenshot({ path: path.join(SHOTS, name), animations: 'disabled' });
    lap(`screenshot ${name}`);
  });

  after(async function () {
    await browser?.close();
  });

  it('opens the Claudemesh container from the activity bar', async function () {
    await page.locator('.activitybar .action-item [aria-label^="Claudemesh"]').first().click({ timeout: 90_000 });
    await ui.pane(page, 'Peers').waitFor({ timeout: 30_000 });
    await ui.pane(page, 'Messages').waitFor({ timeout: 30_000 });
  });

  it('lists the demo peers by name in the Peers view', async function () {
    const peers = ui.pane(page, 'Peers');
    for (const { name } of demo.peers) await ui.treeItem(peers, name).waitFor({ timeout: 90_000 });
    await ui.treeItem(peers, 'Demo User').waitFor({ timeout: 30_000 });
    lap(`Peers shows ${demo.peers.map((p) => p.name).join(', ')}`);
  });

  it('shows the mesh as connected with the demo peer count in the status bar', async function () {
    const text = await ui.waitForStatus(page, (s) => s.label.includes('connected') && s.text.includes(`demo · ${demo.peers.length} peers`), 90_000);
    lap(`status bar: "${text}"`);
  });

  it("sends Ada a message from the command palette, and Ada's reply arrives as a notification and in Messages", async function () {
    const message = 'Hello Ada, this is the UI test';
    await ui.sendMessage(page, 'Ada', message);
    const reply = `Ada here. You said: "${message}"`;
    await ui.toast(page, reply).waitFor({ timeout: 60_000 });
    await ui.treeItem(ui.pane(page, 'Messages'), 'Ada', ui.preview(reply)).waitFor({ timeout: 30_000 });
    lap('reply shown as a notification and in Messages');
  });

  it('shows reconnecting in the status bar while the broker is down', async function () {
    await ui.control(demo.controlUrl, 'POST', '/broker/stop');
    const text = await ui.waitForStatus(page, (s) => /reconnecting/.test(s.text), 60_000);
    lap(`broker stopped; status bar: "${text}"`);
  });

  it('shows a message sent while the broker is down as queued', async function () {
    const message = 'Sent while the broker was down';
    await ui.sendMessage(page, 'Ada', message, { offline: true });
    const messages = ui.pane(page, 'Messages');
    await ui.expand(ui.treeItem(messages, 'Ada', `you: ${message.slice(0, 15)}`));
    await ui.treeItem(messages, message, 'queued').waitFor({ timeout: 30_000 });
    const text = await ui.waitForStatus(page, (s) => s.label.includes('1 queued'), 30_000);
    lap(`queued; status bar: "${text}"`);
  });

  it('reconnects when the broker is back and delivers the queued message', async function () {
    await ui.control(demo.controlUrl, 'POST', '/broker/start');
    const reply = 'Ada here. You said: "Sent while the broker was down"';
    // Watched together: the toast may come and go while the status bar is still catching up.
    // The client's backoff is capped at 30 s (with jitter): allow several rounds.
    const [text] = await Promise.all([
      ui.waitForStatus(page, (s) => s.label.includes('connected') && s.label.includes('0 queued'), 150_000),
      ui.toast(page, reply).waitFor({ timeout: 150_000 }),
      ui.treeItem(ui.pane(page, 'Messages'), 'Ada', ui.preview(reply)).waitFor({ timeout: 150_000 }),
    ]);
    lap(`broker back, queued message delivered and answered; status bar: "${text}"`);
    assert.strictEqual(await ui.treeItem(ui.pane(page, 'Messages'), 'Sent while the broker was down', 'queued').count(), 0);
  });
});
