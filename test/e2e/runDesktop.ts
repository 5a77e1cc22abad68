/**
 * `npm run test:desktop`: the extension-host suite (test/e2e/suite) in desktop VS Code, through @vscode/test-electron.
 * It downloads VS Code (stable, or VSCODE_TEST_VERSION) into .vscode-test/, so it needs a machine that can reach
 * update.code.visualstudio.com and can show a window (or xvfb-run); CI uses code-server instead (scripts/e2e.sh).
 * The suite starts its own demo mesh on 127.0.0.1; user data and the workspace are throwaway folders.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runTests } from '@vscode/test-electron';

async function main(): Promise<number> {
  const repo = path.resolve(__dirname, '..', '..', '..');
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'claudemesh-desktop-'));
  const workspace = path.join(scratch, 'workspace');
  const configDir = path.join(scratch, 'claudemesh');
  fs.mkdirSync(workspace);
  fs.mkdirSync(configDir);
  try {
    await runTests({
      version: process.env.VSCODE_TEST_VERSION,
      extensionDevelopmentPath: repo,
      extensionTestsPath: path.join(__dirname, 'suite', 'index'),
      // Other installed extensions stay out; the one under development still loads.
      launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust', '--user-data-dir', path.join(scratch, 'user-data')],
      // An empty config folder, so the extension does not connect to your own meshes before the suite points it at
      // the demo mesh (the CLI rule: $CLAUDEMESH_CONFIG_DIR/config.json when that folder exists).
      extensionTestsEnv: { CLAUDEMESH_CONFIG_DIR: configDir },
    });
    return 0;
  } catch (err) {
    console.error(`Desktop extension-host tests failed: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

void main().then((code) => process.exit(code));
