// Runs the mocha suite in test/e2e/suite INSIDE code-server's Node extension host, the way @vscode/test-electron
// does on a desktop: the workbench URL's `payload` names the extension under development and the tests module. A
// built workbench honours that only when the server runs with `--vscode-option enable-smoke-test-driver`; it then
// reports the runner's exit code through window.codeAutomationExit and the extension host's console through
// window.codeAutomationLog, which we expose before navigating.
// env: BASE_URL, FOLDER, EXT_DIR, TESTS_ENTRY, RUN_DIR, [TEST_TIMEOUT_MS], [E2E_VERBOSE]
const path = require('path');
const util = require('util');
const { openBrowser, lapLogger } = require('./workbench.cjs');

const { BASE_URL, FOLDER, EXT_DIR, TESTS_ENTRY, RUN_DIR } = process.env;
const timeoutMs = Number(process.env.TEST_TIMEOUT_MS || 240000);
const lap = lapLogger('exthost');
// Offline noise from the workbench (gallery, telemetry, GitHub auth) that says nothing about our tests.
const NOISE = new RegExp(
  [/\[AgentHost/, /\[ChatModelSelection\]/, /\[AccountPolicyGate\]/, /ENOTFOUND/, /^\s+at /, /Creating a socket/, /Service Worker/,
    /connection token/, /reconnection-grace-time/, /authentication provider 'github'/, /builtin extensions cache/, /workbench contribution/]
    .map((r) => r.source).join('|'),
);

async function main() {
  for (const name of ['BASE_URL', 'FOLDER', 'EXT_DIR', 'TESTS_ENTRY', 'RUN_DIR']) {
    if (!process.env[name]) throw new Error(`exthost.cjs: environment variable ${name} is not set (scripts/e2e.sh sets it)`);
  }
  const authority = new URL(BASE_URL).host; // code-server's remote authority is the page's host:port
  const remote = (p) => `vscode-remote://${authority}${path.resolve(p)}`;
  const payload = [['extensionDevelopmentPath', remote(EXT_DIR)], ['extensionTestsPath', remote(TESTS_ENTRY)], ['skipWelcome', 'true']];
  const url = `${BASE_URL}?folder=${encodeURIComponent(FOLDER)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;

  const browser = await openBrowser(RUN_DIR);
  let timer;
  try {
    let exit;
    const exited = new Promise((resolve) => (exit = resolve));
    await browser.page.exposeFunction('codeAutomationLog', (type, args) => {
      for (const line of util.format(...(args || [])).split('\n')) {
        if (process.env.E2E_VERBOSE || !NOISE.test(line)) console.log(`  ${line}`);
      }
    });
    await browser.page.exposeFunction('codeAutomationExit', (code) => exit(code));
    lap('opening the workbench with the extension under development and the test suite');
    await browser.page.goto(url);
    const timedOut = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the suite did not finish within ${timeoutMs / 1000} s`)), timeoutMs);
    });
    const code = await Promise.race([exited, timedOut]);
    lap(`test runner exit code ${code}`);
    return code;
  } finally {
    clearTimeout(timer);
    await browser.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`extension-host tests failed to run: ${err.message}`);
    process.exit(1);
  },
);
