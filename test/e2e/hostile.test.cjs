// Hostile-peer UI test: the packaged extension in code-server's workbench, on the demo mesh with Mallory
// (`demo/run.js --hostile`, test/support/mallory.ts), and the sentinel extension (test/e2e/sentinel) installed beside
// it. Every surface Mallory reaches is opened, hovered and Ctrl+clicked like a curious user would; after each one,
// nothing may have acted: the sentinel command never ran, no terminal opened, no codicon of hers rendered, no image
// of hers loaded, and no editor shows a clickable link. A PNG per surface goes to $SHOTS (hostile-*.png).
// Run by scripts/e2e.sh: mocha --no-config --bail test/e2e/hostile.test.cjs  with BASE_URL, RUN_DIR, SHOTS, NODE_PATH
const assert = require('assert');
const fs = require('fs');
const path = require('path');
const { openBrowser, lapLogger } = require('./workbench.cjs');
const ui = require('./ui.cjs');

const { BASE_URL, RUN_DIR, SHOTS } = process.env;
const lap = lapLogger('hostile');
// code-server's HOME is <run>/home: the sentinel writes there.
const SENTINEL_LOG = path.join(RUN_DIR || '', 'home', 'claudemesh-sentinel.log');

describe("Mallory's text in the VS Code workbench acts nowhere", function () {
  let browser;
  let page;
  let shot = 0;
  const imagesFetched = [];

  before(async function () {
    for (const name of ['BASE_URL', 'RUN_DIR', 'SHOTS']) assert.ok(process.env[name], `${name} is not set (scripts/e2e.sh sets it)`);
    fs.mkdirSync(SHOTS, { recursive: true });
    browser = await openBrowser(RUN_DIR);
    page = browser.page;
    page.on('request', (request) => {
      if (request.url().includes('evil.example')) imagesFetched.push(request.url());
    });
    await page.goto(BASE_URL);
    await page.locator('.monaco-workbench').waitFor({ timeout: 90_000 });
    await page.locator('.activitybar .action-item [aria-label^="Claudemesh"]').first().click({ timeout: 90_000 });
    await ui.treeItem(ui.pane(page, 'Peers'), 'Mallory').waitFor({ timeout: 90_000 });
    lap('Mallory is in the Peers view');
  });

  afterEach(async function () {
    if (!page) return;
    await snap(this.currentTest.state === 'failed' ? `${this.currentTest.title}-FAILED` : this.currentTest.title);
  });

  after(async function () {
    await browser?.close();
  });

  async function snap(title) {
    shot++;
    const name = `hostile-${String(shot).padStart(2, '0')}-${ui.slug(title)}.png`;
    await page.screenshot({ path: path.join(SHOTS, name), animations: 'disabled' });
    lap(`screenshot ${name}`);
  }

  /** Nothing Mallory wrote has acted, after whatever the test just did. */
  async function assertNothingActed(where) {
    const log = fs.existsSync(SENTINEL_LOG) ? fs.readFileSync(SENTINEL_LOG, 'utf8') : '';
    assert.match(log, /started/, 'the sentinel extension is not running, so it could not have noticed anything');
    assert.doesNotMatch(log, /COMMAND RAN|TERMINAL OPENED/, `after ${where}, the sentinel saw:\n${log}`);
    assert.strictEqual(await page.locator('.terminal-wrapper, .integrated-terminal').count(), 0, `a terminal is open after ${where}`);
    // Her name carries $(verified) and her text $(alert); neither icon is used by Claudemesh itself.
    assert.strictEqual(await page.locator('.codicon-verified, .codicon-alert').count(), 0, `one of her $(codicons) rendered after ${where}`);
    assert.strictEqual(await page.locator('img[src*="evil.example"], script[src*="evil.example"]').count(), 0, `her HTML rendered after ${where}`);
    assert.deepStrictEqual(imagesFetched, [], `something of hers was fetched after ${where}`);
  }

  /** Hovers `target`, waits for a hover containing `text`, and Ctrl+clicks every link in it. Returns the hover's text. */
  async function hoverAndClickLinks(target, text) {
    const hover = page.locator('.monaco-hover, .workbench-hover').filter({ hasText: text }).first();
    for (let attempt = 0; attempt < 3 && !(await hover.isVisible()); attempt++) {
      await page.mouse.move(0, 0);
      await target.hover();
      await hover.waitFor({ timeout: 5_000 }).catch(() => undefined);
    }
    assert.ok(await hover.isVisible(), `no hover with "${text}" appeared`);
    const links = hover.locator('a');
    const hrefs = [];
    for (let i = 0; i < (await links.count()); i++) {
      const link = links.nth(i);
      hrefs.push((await link.getAttribute('data-href')) ?? (await link.getAttribute('href')) ?? '');
    }
    return { text: await hover.innerText(), hrefs };
  }

  /**
   * The active editor: it must show no detected link; then every place where Mallory wrote a URL or a command is
   * Ctrl+clicked anyway, and hovered with Ctrl held.
   */
  async function pokeEditor(where) {
    const editor = page.locator('.editor-group-container.active .monaco-editor').first();
    await editor.waitFor({ timeout: 30_000 });
    await page.waitForTimeout(2_000); // link detection runs shortly after the model settles
    const area = await editor.boundingBox();
    const inside = (box) => box && box.x >= area.x && box.x + 8 <= area.x + area.width && box.y >= area.y && box.y + box.height <= area.y + area.height;
    const ctrlClick = async (box) => {
      // By coordinates: the editor's cursor layer sits on top of the text and takes pointer events.
      const x = box.x + Math.min(box.width / 2, 40);
      const y = box.y + box.height / 2;
      await page.keyboard.down('Control');
      await page.mouse.move(x, y);
      await page.waitForTimeout(300);
      await page.mouse.click(x, y, { modifiers: ['Control'] });
      await page.keyboard.up('Control');
    };
    // Any link the editor did detect is Ctrl+clicked first, so a hole shows as the command it runs, not only as a count.
    const links = editor.locator('.detected-link');
    const detected = await links.count();
    for (let i = 0; i < Math.min(detected, 20); i++) {
      // A link that ran may have replaced the editor: then there is nothing left to click.
      const box = await links.nth(i).boundingBox({ timeout: 2_000 }).catch(() => null);
      if (!box) break;
      if (inside(box)) await ctrlClick(box);
    }
    await page.waitForTimeout(detected ? 1_500 : 0);
    await assertNothingActed(`Ctrl+clicking the ${detected} links detected in ${where}`);
    assert.strictEqual(detected, 0, `${where} shows ${detected} clickable links`);
    let poked = 0;
    for (const text of ['command[:]', 'https[:]', 'file[:]', 'vscode[:]', 'command\\u003a', 'https:\\/\\/', 'file:\\/\\/', '<img', '$(gear)']) {
      const spans = editor.locator('.view-line span', { hasText: text });
      const count = Math.min(await spans.count(), 3);
      for (let i = 0; i < count; i++) {
        const box = await spans.nth(i).boundingBox();
        if (!inside(box)) continue;
        await ctrlClick(box);
        poked++;
      }
    }
    assert.ok(poked > 0, `${where}: nothing of Mallory's to click was on screen`);
    await assertNothingActed(where);
    return poked;
  }

  async function languageShown() {
    return (await page.locator('#status\\.editor\\.mode').innerText({ timeout: 10_000 })).trim();
  }

  it('peers: her row and its tooltip are plain text', async function () {
    const row = ui.treeItem(ui.pane(page, 'Peers'), 'Mallory');
    const rowText = await row.innerText();
    assert.match(rowText, /Mallory \[sentinel\] \(command:claudemeshSentinel\.touch\) \$ \(verified\) \[U\+202E\]yrollam/);
    const hover = await hoverAndClickLinks(row, 'Status:');
    assert.deepStrictEqual(hover.hrefs, [], 'the peer tooltip rendered links');
    assert.match(hover.text, /Summary: summary \[release notes\] \(command:workbench/);
    await assertNothingActed('hovering her peer row');
  });

  it('status bar: its tooltip links only to Claudemesh commands', async function () {
    const item = page.locator('.statusbar-item[aria-label^="Claudemesh:"]').first();
    const hover = await hoverAndClickLinks(item, 'Outbox');
    assert.ok(hover.hrefs.length > 0, 'the tooltip has its own links');
    for (const href of hover.hrefs) assert.match(href, /^command:claudemesh\./, `a link to ${href}`);
    await assertNothingActed('hovering the status bar');
  });

  it('quick pick: Send Message lists her name as text', async function () {
    await ui.runCommand(page, 'Claudemesh: Send Message');
    const widget = page.locator('.quick-input-widget');
    await widget.locator('.quick-input-title', { hasText: 'Send Message' }).waitFor({ timeout: 30_000 });
    await widget.locator('.quick-input-box input').fill('Mallory');
    await widget.locator('.quick-input-list .monaco-list-row', { hasText: 'Mallory' }).first().waitFor({ timeout: 30_000 });
    await assertNothingActed('the Send Message quick pick');
    await snap('quick pick lists Mallory');
    // Send Message opens her chat panel; the message goes from its composer.
    await widget.locator('.quick-input-box input').press('Enter');
    await ui.typeAndSend(page, ['Hello Mallory']);
  });

  it('chat panel: her reply shows with no link, image or markup of hers, and clicking it runs nothing', async function () {
    const reply = ui.chatMessage(page, 'release notes', 'in');
    await reply.waitFor({ timeout: 60_000 });
    const panel = ui.chat(page);
    assert.strictEqual(await panel.locator('a[href], img, iframe, object, embed').count(), 0, 'the panel rendered a link or an image');
    assert.match(await reply.innerText(), /release notes/);
    await reply.locator('.body').click({ modifiers: ['Control'] });
    await reply.locator('.body').click();
    // Her https: links open only after a modal naming the target (test/views/chatPanel.test.ts); not clicked here.
    await assertNothingActed('clicking her message in the chat panel');
  });

  it('conversation: her Messages row opens the same chat panel, and nothing of hers acts', async function () {
    await ui.treeItem(ui.pane(page, 'Messages'), 'Mallory').click();
    await ui.chat(page).locator('#title', { hasText: 'Mallory' }).waitFor({ timeout: 30_000 });
    assert.strictEqual(await page.locator('iframe.webview.ready').count(), 1, 'one panel for her');
    await assertNothingActed('opening her conversation');
  });

  it('skill: the document is plain text, not Markdown, with nothing to click', async function () {
    await ui.runCommand(page, 'Claudemesh: Refresh Skills');
    const row = ui.treeItem(ui.pane(page, 'Skills'), 'notes.md');
    await row.waitFor({ timeout: 30_000 });
    const hover = await hoverAndClickLinks(row, 'Tags:');
    assert.deepStrictEqual(hover.hrefs, [], 'the skill tooltip rendered links');
    await row.click();
    await page.locator('.editor-group-container.active .monaco-editor .view-line', { hasText: 'Claudemesh skill, shown as plain text' }).waitFor({ timeout: 30_000 });
    assert.strictEqual(await languageShown(), 'Plain Text');
    lap(`poked ${await pokeEditor('the skill document')} places in the skill`);
  });

  it('memory: Recall lists it as text, and its document is plain text with nothing to click', async function () {
    await ui.runCommand(page, 'Claudemesh: Recall');
    const widget = page.locator('.quick-input-widget');
    await widget.locator('.quick-input-title', { hasText: 'Recall' }).waitFor({ timeout: 30_000 });
    await widget.locator('.quick-input-box input').fill('memory');
    await widget.locator('.quick-input-box input').press('Enter');
    await widget.locator('.quick-input-list .monaco-list-row', { hasText: 'bash' }).first().waitFor({ timeout: 30_000 });
    await assertNothingActed('the Recall quick pick');
    await snap('recall lists her memory');
    await page.keyboard.press('Escape');
    const row = ui.treeItem(ui.pane(page, 'Memories'), 'bash');
    await row.click({ timeout: 30_000 });
    await page.locator('.editor-group-container.active .monaco-editor .view-line', { hasText: 'Claudemesh memory, shown as plain text' }).waitFor({ timeout: 30_000 });
    assert.strictEqual(await languageShown(), 'Plain Text');
    lap(`poked ${await pokeEditor('the memory document')} places in the memory`);
  });

  for (const key of ['Makefile', 'package.json', 'odd types']) {
    it(`shared state "${key}": JSON inside our own object, with nothing to click`, async function () {
      const row = ui.treeItem(ui.pane(page, 'Shared State'), key);
      await row.waitFor({ timeout: 30_000 });
      await hoverAndClickLinks(row, 'Updated by').then((hover) => assert.deepStrictEqual(hover.hrefs, [], 'the state tooltip rendered links'));
      await row.click();
      await page.locator('.editor-group-container.active .monaco-editor .view-line', { hasText: '"updatedBy"' }).waitFor({ timeout: 30_000 });
      assert.strictEqual(await languageShown(), 'JSON');
      // Had the JSON language taken her $schema, it would try to load it and warn that it could not (we are offline).
      await page.waitForTimeout(2_000);
      assert.match((await page.locator('#status\\.problems').getAttribute('aria-label')) ?? '', /No Problems/, 'the JSON document has problems: was a schema loaded?');
      lap(`state ${key}: poked ${await pokeEditor(`the state document for ${key}`)} places`);
    });
  }
});
