// First run in the VS Code workbench: the packaged extension with no claudemesh config and no mesh joined, driven in
// headless Chromium. Its HOME is the run folder's, so the config the extension reads is RUN_DIR/home/.claudemesh/config.json.
// Run by scripts/e2e.sh:  mocha --no-config --bail test/e2e/firstrun.test.cjs   with BASE_URL, RUN_DIR, SHOTS, NODE_PATH
const assert = require('assert');
const fs = require('fs');
const path = require('path');
const { openBrowser, lapLogger } = require('./workbench.cjs');
const ui = require('./ui.cjs');

const { BASE_URL, RUN_DIR, SHOTS } = process.env;
const lap = lapLogger('first run');
const CONFIG = path.join(RUN_DIR ?? '', 'home', '.claudemesh', 'config.json');

describe('Claudemesh on first run, with no config and no mesh', function () {
  let browser;
  let page;
  let shot = 0;

  before(async function () {
    for (const name of ['BASE_URL', 'RUN_DIR', 'SHOTS']) assert.ok(process.env[name], `${name} is not set (scripts/e2e.sh sets it)`);
    assert.ok(!fs.existsSync(CONFIG), `${CONFIG} must not exist before the test`);
    fs.mkdirSync(SHOTS, { recursive: true });
    browser = await openBrowser(RUN_DIR);
    page = browser.page;
    await page.goto(BASE_URL);
    await page.locator('.monaco-workbench').waitFor({ timeout: 90_000 });
  });

  afterEach(async function () {
    if (!page) return;
    shot++;
    const name = `firstrun-${String(shot).padStart(2, '0')}-${ui.slug(this.currentTest.title)}${this.currentTest.state === 'failed' ? '-FAILED' : ''}.png`;
    await page.screenshot({ path: path.join(SHOTS, name), animations: 'disabled' });
    lap(`screenshot ${name}`);
  });

  after(async function () {
    await browser?.close();
  });

  it('shows one welcome in Peers, whole, with Join, Open Config and Get Started, and no other view', async function () {
    await page.locator('.activitybar .action-item [aria-label^="Claudemesh"]').first().click({ timeout: 90_000 });
    const peers = ui.pane(page, 'Peers');
    await peers.getByText('No claudemesh identity found.').waitFor({ timeout: 60_000 });
    const body = await peers.locator('.pane-body').boundingBox();
    for (const label of ['Join Mesh from Invite Link', 'Open Claudemesh Config', 'Get Started']) {
      const box = await peers.getByRole('button', { name: label }).boundingBox();
      assert.ok(box && box.y >= body.y && box.y + box.height <= body.y + body.height, `the "${label}" button is inside the Peers view`);
    }
    for (const title of ['Messages', 'Shared State', 'Skills', 'Memories']) assert.equal(await ui.pane(page, title).count(), 0, `no ${title} view yet`);
  });

  it('offers to create the config from Open Config, and Create writes an empty one (0600) where the extension reads it and opens it', async function () {
    await ui.pane(page, 'Peers').getByRole('button', { name: 'Open Claudemesh Config' }).click();
    const toast = ui.toast(page, 'there is no claudemesh config at');
    await toast.waitFor({ timeout: 30_000 });
    assert.match(await toast.innerText(), /\.claudemesh\/config\.json yet/);
    assert.equal(await toast.getByRole('button', { name: 'Join Mesh from Invite Link' }).count(), 1, 'Join is offered too');
    await toast.getByRole('button', { name: 'Create Empty Config' }).click();
    await page.locator('.tab', { hasText: 'config.json' }).waitFor({ timeout: 30_000 });
    const deadline = Date.now() + 10_000;
    while (!(await ui.editorText(page)).includes('"meshes": []') && Date.now() < deadline) await page.waitForTimeout(250);
    assert.match(await ui.editorText(page), /"version": 1,\s*"meshes": \[\]/);
    assert.deepEqual(JSON.parse(fs.readFileSync(CONFIG, 'utf8')), { version: 1, meshes: [] });
    assert.equal(fs.statSync(CONFIG).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.dirname(CONFIG)).mode & 0o777, 0o700);
    lap(`created ${CONFIG}`);
  });
});
