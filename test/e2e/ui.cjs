// What the UI test does to the workbench, in user terms: find a view, a tree row, a toast, the status bar item; run
// a command from F1; send a message through the quick picks. Every wait is on a condition, with a generous limit.

/** A file-name-safe version of a test title. */
function slug(title) {
  return title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 70);
}

/** The sidebar section whose header starts with `title` (its aria-label is e.g. "Peers - 3 peers Section"). */
function pane(page, title) {
  return page.locator('.pane').filter({ has: page.locator(`.pane-header[aria-label^="${title}"]`) });
}

/** The first tree row under `scope` whose text contains every one of `texts` (case-insensitive). */
function treeItem(scope, ...texts) {
  return texts.reduce((rows, text) => rows.filter({ hasText: text }), scope.locator('[role=treeitem]')).first();
}

/** The start of a message, as much as the Messages view shows of it before cutting it short. */
function preview(text) {
  return text.slice(0, 40);
}

/**
 * Expands a tree row the way a user does, with its twistie. VS Code keeps a row's collapse state by id, so a row
 * that first had no children stays collapsed when children appear.
 */
async function expand(row) {
  await row.waitFor({ timeout: 30_000 });
  if ((await row.getAttribute('aria-expanded')) === 'false') await row.locator('.monaco-tl-twistie').click();
}

/** A notification toast containing `text`. */
function toast(page, text) {
  return page.locator('.notifications-toasts .notification-toast', { hasText: text });
}

const statusItem = (page) => page.locator('.statusbar-item[aria-label^="Claudemesh:"]').first();

/**
 * Polls the Claudemesh status bar item until `accept({text, label})` holds; `text` is what it shows, `label` its
 * accessible description ("Claudemesh: demo, connected, 0 unread, 0 queued"). Returns the text.
 */
async function waitForStatus(page, accept, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let seen = { text: '(no Claudemesh status bar item)', label: '' };
  while (Date.now() < deadline) {
    const item = statusItem(page);
    if (await item.count()) {
      seen = { text: (await item.innerText()).trim(), label: (await item.getAttribute('aria-label')) ?? '' };
      if (accept(seen)) return seen.text;
    }
    await page.waitForTimeout(250);
  }
  throw new Error(`status bar never reached the expected state within ${timeoutMs / 1000} s; last seen "${seen.text}" (${seen.label})`);
}

/** Calls the demo runner's control endpoint (demo/run.ts). */
async function control(baseUrl, method, route) {
  const response = await fetch(baseUrl + route, { method });
  const body = await response.text();
  if (!response.ok) throw new Error(`${method} ${route} on the demo control endpoint answered ${response.status}: ${body}`);
  return JSON.parse(body);
}

const quickInput = (page) => page.locator('.quick-input-widget');

/** Waits for the quick input titled `title` (a pick or an input box), types `text`, and presses Enter. */
async function answerQuickInput(page, title, text, rowText) {
  const widget = quickInput(page);
  await widget.locator('.quick-input-title', { hasText: title }).waitFor({ timeout: 30_000 });
  const input = widget.locator('.quick-input-box input');
  await input.fill(text);
  if (rowText) await widget.locator('.quick-input-list .monaco-list-row', { hasText: rowText }).first().waitFor({ timeout: 30_000 });
  await input.press('Enter');
}

/** F1, then the command with this full title ("Claudemesh: Send Message"). */
async function runCommand(page, title) {
  await page.keyboard.press('F1');
  const input = quickInput(page).locator('.quick-input-box input');
  await input.waitFor({ timeout: 30_000 });
  await input.fill(`>${title}`);
  await quickInput(page).locator('.quick-input-list .monaco-list-row', { hasText: title }).first().waitFor({ timeout: 30_000 });
  await input.press('Enter');
}

/**
 * Claudemesh: Send Message → pick the peer → type the message → Enter on the default priority. While offline the
 * command first asks whether to connect or send anyway (a toast); `offline: true` answers "Send Anyway".
 */
async function sendMessage(page, peer, message, { offline = false } = {}) {
  await runCommand(page, 'Claudemesh: Send Message');
  if (offline) await toast(page, 'is not connected').getByRole('button', { name: 'Send Anyway' }).click({ timeout: 30_000 });
  await answerQuickInput(page, 'Send Message', peer, peer);
  await answerQuickInput(page, `Message to ${peer}`, message);
  await answerQuickInput(page, 'Priority', '', 'next');
}

module.exports = { slug, pane, treeItem, preview, expand, toast, waitForStatus, control, runCommand, sendMessage };
