// The hostile-peer e2e phase installs this next to Claudemesh. Mallory's links point at claudemeshSentinel.touch and
// at terminal commands; if any of them ever runs, a line lands in ~/claudemesh-sentinel.log (HOME is the run folder),
// which test/e2e/hostile.test.cjs reads. The "started" line proves the sentinel was listening.
const fs = require('fs');
const os = require('os');
const path = require('path');
const vscode = require('vscode');

const LOG = path.join(os.homedir(), 'claudemesh-sentinel.log');
const record = (what) => fs.appendFileSync(LOG, `${new Date().toISOString()} ${what}\n`);

exports.activate = (context) => {
  record('started');
  context.subscriptions.push(
    vscode.commands.registerCommand('claudemeshSentinel.touch', (...args) => record(`COMMAND RAN ${JSON.stringify(args)}`)),
    vscode.window.onDidOpenTerminal((terminal) => record(`TERMINAL OPENED ${terminal.name}`)),
  );
};
exports.deactivate = () => undefined;
