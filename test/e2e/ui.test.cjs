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
  /** The chat page's frame, once Ada's panel is open. */
  let frame;

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

  // A PNG per step in the theme the workbench has, then the same step in the other theme (light / dark), then back.
  afterEach(async function () {
    if (!page) return;
    shot++;
    const base = `${String(shot).padStart(2, '0')}-${ui.slug(this.currentTest.title)}${this.currentTest.state === 'failed' ? '-FAILED' : ''}`;
    const themeName = async () => ((await page.locator('.monaco-workbench').getAttribute('class')) ?? '').includes('vs-dark') ? 'dark' : 'light';
    const take = async () => {
      const name = `${base}-${await themeName()}.png`;
      await page.screenshot({ path: path.join(SHOTS, name), animations: 'disabled' });
      lap(`screenshot ${name}`);
    };
    await take();
    if (this.currentTest.state === 'failed') return;
    await ui.toggleTheme(page);
    await take();
    await ui.toggleTheme(page);
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

  it("follows Linus's status change in the Peers view without any action (the broker pushes none)", async function () {
    // Linus flips between working and idle every 15 s; the list is re-read every 15 s ± 2.5 s while a view is
    // visible. So his row must change within one flip plus one period: 35 s.
    const row = ui.treeItem(ui.pane(page, 'Peers'), 'Linus');
    const before = (await row.innerText()).trim();
    const deadline = Date.now() + 35_000;
    let now = before;
    while (now === before && Date.now() < deadline) {
      await page.waitForTimeout(500);
      now = (await row.innerText()).trim();
    }
    assert.notEqual(now, before, `Linus's row still reads "${before}" after 35 s`);
    lap(`Linus: "${before}" → "${now}"`);
  });

  it("opens Ada's chat panel from the Peers view", async function () {
    await ui.treeItem(ui.pane(page, 'Peers'), 'Ada').click();
    const panel = ui.chat(page);
    await panel.locator('#title', { hasText: 'Ada' }).waitFor({ timeout: 60_000 });
    await panel.locator('#subtitle', { hasText: 'idle' }).waitFor({ timeout: 30_000 });
    frame = await ui.chatFrame(page);
    const csp = await frame.evaluate(() => document.querySelector('meta[http-equiv="Content-Security-Policy"]').content);
    assert.match(csp, /^default-src 'none'; style-src [^;]+; script-src 'nonce-[^']+';/);
    lap(`Ada's panel is open; CSP: ${csp}`);
  });

  it('sends a two-line message with Enter, which goes queued → sent, and Ada\'s reply arrives and scrolls into view', async function () {
    await ui.recordStatuses(frame);
    await ui.typeAndSend(page, ['Hello Ada, this is the UI test', 'and this is its second line']);
    const mine = ui.chatMessage(page, 'and this is its second line', 'out');
    await mine.locator('.status-label', { hasText: /^(sent|delivered)$/ }).waitFor({ timeout: 60_000 });
    assert.equal(await mine.locator('.body p').innerText(), 'Hello Ada, this is the UI test\nand this is its second line');
    const seen = await ui.statusesSeen(frame);
    assert.equal(seen[0], 'queued', `the first status shown was "${seen[0]}" (all: ${seen.join(' → ')})`);
    assert.ok(seen.includes('sent') || seen.includes('delivered'), seen.join(' → '));
    const reply = ui.chatMessage(page, 'Ada here. You said: "Hello Ada, this is the UI test', 'in');
    await reply.waitFor({ timeout: 60_000 });
    await page.waitForTimeout(300);
    assert.ok(await ui.inListView(frame, 'Ada here. You said: "Hello Ada'), "Ada's reply is scrolled into view");
    assert.equal(await ui.chat(page).locator('#input').inputValue(), '', 'the composer is empty again');
    lap(`statuses: ${seen.join(' → ')}; reply in view`);
  });

  it("brings Ada's panel to the front with the cursor in the composer from Send Message in the palette", async function () {
    await ui.sendMessageCommand(page, 'Ada');
    await page.waitForTimeout(500);
    assert.equal(await frame.evaluate(() => document.activeElement?.id), 'input');
    assert.equal(await page.locator('iframe.webview.ready').count(), 1, 'still one panel');
  });

  it('shows reconnecting in the status bar and offline in the panel while the broker is down', async function () {
    await ui.control(demo.controlUrl, 'POST', '/broker/stop');
    const text = await ui.waitForStatus(page, (s) => /reconnecting/.test(s.text), 60_000);
    await ui.chat(page).locator('#banner', { hasText: 'Messages you send are queued' }).waitFor({ timeout: 30_000 });
    lap(`broker stopped; status bar: "${text}"`);
  });

  it('shows a message sent from the panel while the broker is down as queued, there and in Messages', async function () {
    const message = 'Sent while the broker was down';
    await ui.typeAndSend(page, [message]);
    await ui.chatMessage(page, message, 'out').locator('.status-label', { hasText: 'queued · goes out once connected' }).waitFor({ timeout: 30_000 });
    const messages = ui.pane(page, 'Messages');
    await ui.expand(ui.treeItem(messages, 'Ada', `you: ${message.slice(0, 15)}`));
    await ui.treeItem(messages, message, 'queued').waitFor({ timeout: 30_000 });
    const text = await ui.waitForStatus(page, (s) => s.label.includes('1 queued'), 30_000);
    lap(`queued; status bar: "${text}"`);
  });

  it('reconnects when the broker is back and delivers the queued message, and the answer shows in the panel', async function () {
    await ui.control(demo.controlUrl, 'POST', '/broker/start');
    // The client's backoff is capped at 30 s (with jitter): allow several rounds.
    const text = await ui.waitForStatus(page, (s) => s.label.includes('connected') && s.label.includes('0 queued'), 150_000);
    await ui.chatMessage(page, 'Sent while the broker was down', 'out').locator('.status-label', { hasText: /^(sent|delivered)$/ }).waitFor({ timeout: 60_000 });
    await ui.chatMessage(page, 'Ada here. You said: "Sent while the broker was down"', 'in').waitFor({ timeout: 150_000 });
    await page.waitForTimeout(300);
    assert.ok(await ui.inListView(frame, 'Ada here. You said: "Sent while the broker was down"'), 'the answer is in view');
    lap(`broker back, queued message delivered and answered; status bar: "${text}"`);
    assert.strictEqual(await ui.treeItem(ui.pane(page, 'Messages'), 'Sent while the broker was down', 'queued').count(), 0);
  });

  it('opens the Getting Started walkthrough from the command palette', async function () {
    await ui.runCommand(page, 'Claudemesh: Get Started');
    await page.getByText('Get Started with Claudemesh').first().waitFor({ timeout: 30_000 });
    await page.getByText('See who is on the mesh').first().waitFor({ timeout: 30_000 });
    lap('walkthrough open');
  });
});
