/**
 * The extensionTestsPath module: VS Code loads it inside the extension host and awaits run(). Used by
 * test/e2e/exthost.cjs (code-server, in CI) and test/e2e/runDesktop.ts (@vscode/test-electron, on a desktop).
 */
import * as fs from 'fs';
import * as path from 'path';
import Mocha from 'mocha';

export function run(): Promise<void> {
  // The extension host's console is what both runners forward, so the spec reporter prints there, uncoloured.
  const mocha = new Mocha({ ui: 'bdd', reporter: 'spec', color: false, timeout: 120_000 });
  for (const file of fs.readdirSync(__dirname).filter((f) => f.endsWith('.test.js')).sort()) mocha.addFile(path.join(__dirname, file));
  return new Promise((resolve, reject) => {
    mocha.run((failures) => (failures > 0 ? reject(new Error(`${failures} extension-host test(s) failed`)) : resolve()));
  });
}
