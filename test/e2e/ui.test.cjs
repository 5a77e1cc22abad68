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
/** Every Claudemesh view in the sidebar; all of them are expanded and visible in this test's window. */
const VIEWS = ['Peers', 'Messages', 'Shared State', 'Skills', 'Memories'];
const LAST_SEEN = ' Showing what was last seen.';
/** What a view says about the mesh itself, without its own remark that it shows what it last saw. */
const meshLine = (message) => message.split('\n')[0].replace(LAST_SEEN, '');
/** Grace's memory (demo/peers.ts), which Recall finds. */
const GRACE_MEMORY = 'The demo mesh runs on 127.0.0.1';

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

  it("recalls Grace's memory into the Memories view", async function () {
    await ui.runCommand(page, 'Claudemesh: Recall');
    await ui.answerQuickInput(page, 'Recall', 'demo mesh');
    // The results come as a pick (insert, copy, open); the view keeps them when it is dismissed.
    await page.locator('.quick-input-widget .quick-input-title', { hasText: 'Recall: 1 memory' }).waitFor({ timeout: 30_000 });
    await page.keyboard.press('Escape');
    await ui.treeItem(ui.pane(page, 'Memories'), GRACE_MEMORY).waitFor({ timeout: 30_000 });
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

  it('tells one offline story in every view, each keeping what it last saw', async function () {
    // One reading of all five: the same line about the mesh (reconnecting and why, or connecting while it tries).
    const notes = await ui.waitForViewMessages(page, VIEWS, (m) => {
      const lines = Object.values(m).map(meshLine);
      return lines.every((line) => /^demo: (reconnecting \(.+\)\.|connecting…)$/.test(line)) && new Set(lines).size === 1;
    }, 60_000);
    for (const title of ['Peers', 'Shared State', 'Skills', 'Memories']) assert.ok(notes[title].includes(LAST_SEEN), `${title} says it shows what it last saw: "${notes[title]}"`);
    const rows = { Peers: ['Demo User', 'Ada', 'Grace', 'Linus'], Messages: ['Ada'], 'Shared State': ['build', 'release'], Skills: ['review-checklist'], Memories: [GRACE_MEMORY] };
    for (const [title, names] of Object.entries(rows)) for (const name of names) await ui.treeItem(ui.pane(page, title), name).waitFor({ timeout: 10_000 });
    lap(`every view: "${meshLine(notes.Peers)}"`);
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
    // Every view drops its offline note and shows the mesh again.
    await ui.waitForViewMessages(page, VIEWS, (m) => Object.values(m).every((message) => message === ''), 30_000);
    for (const name of ['Ada', 'Grace', 'Linus']) await ui.treeItem(ui.pane(page, 'Peers'), name).waitFor({ timeout: 30_000 });
    await ui.treeItem(ui.pane(page, 'Shared State'), 'build').waitFor({ timeout: 30_000 });
    await ui.treeItem(ui.pane(page, 'Skills'), 'review-checklist').waitFor({ timeout: 30_000 });
  });

  it('keeps an open shared-state document current as Grace changes its key, with no action', async function () {
    await ui.treeItem(ui.pane(page, 'Shared State'), 'build').click();
    const run = async () => /"run": (\d+)/.exec(await ui.editorText(page))?.[1];
    const deadline = Date.now() + 10_000;
    while (!(await run()) && Date.now() < deadline) await page.waitForTimeout(250);
    const before = await run();
    assert.ok(before, `the build document shows a run: ${await ui.editorText(page)}`);
    // Grace publishes a new run every 15 s.
    const until = Date.now() + 40_000;
    let now = before;
    while (now === before && Date.now() < until) {
      await page.waitForTimeout(500);
      now = await run();
    }
    assert.notEqual(now, before, `the open build document still shows run ${before} after 40 s`);
    lap(`build document: run ${before} → ${now}`);
  });

  it("follows the user's own Set State in the open document, storing plain text as a string", async function () {
    await ui.treeItem(ui.pane(page, 'Shared State'), 'release').click();
    const deadline = Date.now() + 10_000;
    while (!(await ui.editorText(page)).includes('"key": "release"') && Date.now() < deadline) await page.waitForTimeout(250);
    assert.match(await ui.editorText(page), /"frozen": false/);
    await ui.runCommand(page, 'Claudemesh: Set State');
    await ui.answerQuickInput(page, 'Set State: key', 'release');
    await ui.answerQuickInput(page, 'Set State: release', 'Friday 14:00');
    const until = Date.now() + 15_000;
    while (!(await ui.editorText(page)).includes('"value": "Friday 14:00"') && Date.now() < until) await page.waitForTimeout(250);
    assert.match(await ui.editorText(page), /"value": "Friday 14:00"/, 'the open document shows the new value');
    await ui.treeItem(ui.pane(page, 'Shared State'), 'release', 'Friday 14:00').waitFor({ timeout: 10_000 });
  });

  it('opens the Getting Started walkthrough from the command palette, its steps done so far ticked', async function () {
    await ui.runCommand(page, 'Claudemesh: Get Started');
    await page.getByText('Get Started with Claudemesh').first().waitFor({ timeout: 30_000 });
    // This window has an identity and shows Peers: those two steps are done (the service started only now, after both).
    for (const step of ['join', 'peers']) await page.locator(`[data-done-step-id$="${step}"][aria-checked="true"]`).waitFor({ timeout: 15_000 });
    lap('walkthrough open; "Join a mesh" and "See who is on the mesh" ticked');
  });

  it("shows a walkthrough step's Markdown beside it", async function () {
    await page.locator('button.getting-started-step[data-step-id$="peers"]').click();
    const shown = async () => {
      for (const frame of page.frames()) {
        const text = await frame.evaluate(() => document.body?.innerText ?? '').catch(() => '');
        if (text.includes('lists every session on the mesh')) return true;
      }
      return false;
    };
    const deadline = Date.now() + 30_000;
    while (!(await shown()) && Date.now() < deadline) await page.waitForTimeout(250);
    assert.ok(await shown(), "the peers step's Markdown (media/walkthrough/peers.md) is rendered");
  });

  it('comes back after Developer: Reload Window as one "you", with the same peer count (no ghost of the old window)', async function () {
    const count = demo.peers.length;
    await page.evaluate(() => (window.__beforeReload = true));
    await ui.runCommand(page, 'Developer: Reload Window');
    const deadline = Date.now() + 60_000;
    while ((await page.evaluate(() => window.__beforeReload === true).catch(() => true)) && Date.now() < deadline) await page.waitForTimeout(250);
    await page.locator('.monaco-workbench').waitFor({ timeout: 90_000 });
    const peers = ui.pane(page, 'Peers');
    if (!(await peers.isVisible().catch(() => false))) await page.locator('.activitybar .action-item [aria-label^="Claudemesh"]').first().click({ timeout: 90_000 });
    const text = await ui.waitForStatus(page, (s) => s.label.includes('connected') && s.text.includes(`demo · ${count} peers`), 120_000);
    await ui.treeItem(peers, 'Demo User').waitFor({ timeout: 30_000 });
    // A ghost would show as soon as the list is read, and until the broker or a re-read drops it: watch one poll
    // period and more.
    const until = Date.now() + 25_000;
    while (Date.now() < until) {
      const rows = await peers.locator('[role=treeitem]').allInnerTexts();
      const you = rows.filter((row) => row.includes('Demo User'));
      assert.ok(you.length === 1 && !/you ·|sessions?\b/.test(you[0]), `one "you" in Peers, no other session of this window: ${JSON.stringify(rows)}`);
      assert.equal(rows.length, count + 1, `the same rows as before the reload: ${JSON.stringify(rows)}`);
      assert.ok((await peers.locator('.pane-header').getAttribute('aria-label')).includes(`${count} peers`), 'the same count in the Peers title');
      const status = (await page.locator('.statusbar-item[aria-label^="Claudemesh:"]').first().innerText()).trim();
      assert.ok(status.includes(`demo · ${count} peers`), `status bar: ${status}`);
      await page.waitForTimeout(500);
    }
    // The same session slot, so the same history: the conversation with Ada is still there.
    await ui.treeItem(ui.pane(page, 'Messages'), 'Ada').waitFor({ timeout: 10_000 });
    lap(`reloaded; status bar: "${text}"; one you, ${count} peers throughout`);
  });
});
