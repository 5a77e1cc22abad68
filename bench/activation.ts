/**
 * Figure 6, activation: the size of the production bundle, and the time from activate() to the first render of every
 * tree, with no network: the fake `vscode` module, and a config whose one mesh points at a closed port on 127.0.0.1.
 * The bundle itself (dist/extension.js) is what runs, loaded afresh for each run.
 */
import '../test/support/registerFakeVscode';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import type * as Extension from '../src/extension';
import * as vscode from '../test/support/fakeVscode';
import { makeMesh, useConfig } from '../test/views/harness';
import { absoluteRow, now, Row } from './measure';

const BUNDLE = path.resolve(__dirname, '../../dist/extension.js');

function bundleBytes(): number {
  if (!fs.existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: build it with \`node esbuild.mjs --production\` (npm run bench does).`);
  const text = fs.readFileSync(BUNDLE, 'utf8');
  if (text.includes('sourceMappingURL')) throw new Error(`${BUNDLE} is a development build: rebuild it with \`node esbuild.mjs --production\`.`);
  return Buffer.byteLength(text);
}

/** A port on 127.0.0.1 that was just free: connecting to it is refused at once. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function loadBundle(): typeof Extension {
  delete require.cache[BUNDLE];
  return require(BUNDLE) as typeof Extension;
}

/** Milliseconds from activate() until the identities are loaded and every tree view has rendered once. */
async function activateOnce(port: number): Promise<number> {
  vscode.reset();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'claudemesh-bench-'));
  const extension = loadBundle();
  try {
    await useConfig(dir, [makeMesh('bench', `ws://127.0.0.1:${port}/ws`)]);
    const context = vscode.makeExtensionContext(dir);
    const started = now();
    const running = extension.activate(context as never);
    if (!running) throw new Error('activation: activate() failed; see the error message it showed');
    await running.ready;
    for (const viewId of vscode.treeViews.keys()) await vscode.readTree(viewId);
    const elapsed = now() - started;
    if (vscode.treeViews.size === 0) throw new Error('activation: no tree view was created');
    if (vscode.contextKeys.get('claudemesh.hasMeshes') !== true) throw new Error('activation: the mesh in the config was not loaded');
    return elapsed;
  } finally {
    await extension.deactivate();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function activation(runs: number): Promise<Row[]> {
  const kib = bundleBytes() / 1024;
  const port = await closedPort();
  const times: number[] = [];
  for (let run = 0; run < runs; run++) times.push(await activateOnce(port));
  return [
    absoluteRow('6a. Bundle size, dist/extension.js (--production)', 'KB', [kib], { atMost: 250 }),
    absoluteRow('6b. activate() to first render of every tree, no network', 'ms', times),
  ];
}
