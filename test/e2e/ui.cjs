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

/** The message a tree view shows above its rows (TreeView.message), '' when it shows none. */
async function viewMessage(page, title) {
  const message = pane(page, title).locator('.tree-explorer-viewlet-tree-view > .message');
  if (!(await message.count())) return '';
  return message.evaluate((el) => (el.classList.contains('hide') ? '' : el.innerText.trim()));
}

/**
 * Polls the messages of the views titled `titles` until `accept({title: message})` holds for one reading of all of
 * them; returns that reading. The views redraw one by one, so a single reading can straddle a change.
 */
async function waitForViewMessages(page, titles, accept, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let seen = {};
  while (Date.now() < deadline) {
    seen = {};
    for (const title of titles) seen[title] = await viewMessage(page, title);
    if (accept(seen)) return seen;
    await page.waitForTimeout(250);
  }
  throw new Error(`the views' messages never reached the expected state within ${timeoutMs / 1000} s; last seen ${JSON.stringify(seen)}`);
}

/** The text of the active editor as Monaco renders it (every line of a short document), with plain spaces. */
async function editorText(page) {
  const lines = page.locator('.editor-group-container.active .monaco-editor .view-lines').first();
  await lines.waitFor({ timeout: 30_000 });
  return (await lines.innerText()).replace(/\u00a0/g, ' ');
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

/**
 * F1, then the command with this full title ("Claudemesh: Send Message"). An editor that takes focus as it finishes
 * opening (the walkthrough selects its first step) closes the palette under us: then F1 again, a few times.
 */
async function runCommand(page, title) {
  const input = quickInput(page).locator('.quick-input-box input');
  for (let attempt = 1; ; attempt++) {
    await page.keyboard.press('F1');
    try {
      await input.fill(`>${title}`, { timeout: attempt < 3 ? 5_000 : 30_000 });
      break;
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
  await quickInput(page).locator('.quick-input-list .monaco-list-row', { hasText: title }).first().waitFor({ timeout: 30_000 });
  await input.press('Enter');
}

/** Claudemesh: Send Message → pick the peer: opens (or brings to the front) that peer's chat panel. */
async function sendMessageCommand(page, peer, { offline = false } = {}) {
  await runCommand(page, 'Claudemesh: Send Message');
  if (offline) await toast(page, 'is not connected').getByRole('button', { name: 'Send Anyway' }).click({ timeout: 30_000 });
  await answerQuickInput(page, 'Send Message', peer, peer);
}

/**
 * The chat panel's page: VS Code puts a webview in an iframe (class "webview", "ready" once loaded) holding the
 * page's own iframe (#active-frame). Only one chat panel is open in this test.
 */
function chat(page) {
  return page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');
}

/** The Frame of the chat page, for reading the DOM in place (CDP evaluation is not bound by the page's CSP). */
async function chatFrame(page) {
  await chat(page).locator('#composer').waitFor({ timeout: 60_000 });
  for (const frame of page.frames()) {
    if (frame.url().startsWith('about:') || !(await frame.$('#composer').catch(() => null))) continue;
    return frame;
  }
  throw new Error('the chat page has no frame with a composer');
}

/** Types `lines` into the composer as a user does (Shift+Enter between lines) and sends with Enter. */
async function typeAndSend(page, lines) {
  const input = chat(page).locator('#input');
  await input.click();
  for (const [i, line] of lines.entries()) {
    if (i > 0) await input.press('Shift+Enter');
    await input.pressSequentially(line, { delay: 5 });
  }
  await input.press('Enter');
}

/** The message in the chat panel whose text contains `text`. */
function chatMessage(page, text, direction) {
  return chat(page).locator(`article.msg${direction ? `.${direction}` : ''}`, { hasText: text }).last();
}

/** Whether the element matching `selector` with `text` lies inside the visible part of the message list. */
async function inListView(frame, text) {
  return frame.evaluate((wanted) => {
    const list = document.getElementById('list');
    const el = [...list.querySelectorAll('article')].reverse().find((a) => a.textContent.includes(wanted));
    if (!el) return false;
    const box = el.getBoundingClientRect();
    const view = list.getBoundingClientRect();
    return box.top >= view.top - 1 && box.bottom <= view.bottom + 1;
  }, text);
}

/** Starts recording, in the page, every status label an outgoing message shows, in order (read with statusesSeen). */
async function recordStatuses(frame) {
  await frame.evaluate(() => {
    window.__statuses = [];
    const note = () => {
      for (const label of document.querySelectorAll('article.out .status-label')) {
        const key = `${label.closest('article').id}:${label.textContent}`;
        if (!window.__statuses.includes(key)) window.__statuses.push(key);
      }
    };
    new MutationObserver(note).observe(document.getElementById('list'), { childList: true, subtree: true, characterData: true });
  });
}

async function statusesSeen(frame) {
  return frame.evaluate(() => window.__statuses.map((s) => s.slice(s.indexOf(':') + 1)));
}

/** Preferences: Toggle between Light/Dark Themes; waits for the workbench to switch, then for the webview to repaint. */
async function toggleTheme(page) {
  const workbench = page.locator('.monaco-workbench');
  const before = await workbench.getAttribute('class');
  await runCommand(page, 'Preferences: Toggle between Light/Dark Themes');
  const deadline = Date.now() + 15_000;
  while ((await workbench.getAttribute('class')) === before && Date.now() < deadline) await page.waitForTimeout(100);
  await page.waitForTimeout(800);
}

module.exports = {
  slug, pane, treeItem, preview, expand, toast, waitForStatus, viewMessage, waitForViewMessages, editorText, control,
  runCommand, answerQuickInput, sendMessageCommand,
  chat, chatFrame, typeAndSend, chatMessage, inListView, recordStatuses, statusesSeen, toggleTheme,
};
