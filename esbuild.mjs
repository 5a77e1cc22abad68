// Bundles the extension into CommonJS files; `vscode` is provided by the host. ws's optional native accelerators are
// left out on purpose: ws falls back to its JS implementation when they are absent.
// Three files: dist/extension.js (what activation loads); dist/markdown.js, the chat panel's Markdown renderer with
// markdown-it, loaded by src/views/chat/render.ts with the first message a panel shows; and dist/chat.js, the chat
// panel's page script (src/views/chat/page.js) for the webview, which shares src/views/shared/time.ts with the extension.
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';

const production = process.argv.includes('--production');
// A release build has no source map: drop the one a development build left, so it is not packaged.
fs.rmSync('dist', { recursive: true, force: true });
const common = {
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node18',
  minify: production,
  sourcemap: !production,
  metafile: true,
  logLevel: 'warning',
};
const builds = [
  { entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js', external: ['vscode', 'bufferutil', 'utf-8-validate', './markdown'] },
  // markdown-it only decodes entities; `entities`' index would also bring its encoder tables (~25 KB) along.
  { entryPoints: ['src/views/chat/markdown.ts'], outfile: 'dist/markdown.js', alias: { entities: './node_modules/entities/lib/esm/decode.js' } },
  // A browser script: no module system in the page, so everything it imports is inside one function; no source map
  // (unminified in a development build, it reads as it is written).
  { entryPoints: ['src/views/chat/page.js'], outfile: 'dist/chat.js', platform: 'browser', format: 'iife', target: 'es2020', sourcemap: false },
];
for (const options of builds) {
  const result = await esbuild.build({ ...common, ...options });
  const bytes = result.metafile.outputs[options.outfile].bytes;
  const notes = [production && 'minified', (options.sourcemap ?? common.sourcemap) && 'with a source map beside it'].filter(Boolean);
  console.log(`${options.outfile}: ${(bytes / 1024).toFixed(1)} KB${notes.length ? ` (${notes.join(', ')})` : ''}`);
}
