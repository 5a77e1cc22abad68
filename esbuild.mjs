// Bundles the extension into one CommonJS file; `vscode` is provided by the host. ws's optional native
// accelerators are left out on purpose: ws falls back to its JS implementation when they are absent.
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';

const production = process.argv.includes('--production');
// A release build has no source map: drop the one a development build left, so it is not packaged.
fs.rmSync('dist', { recursive: true, force: true });
const result = await esbuild.build({
  entryPoints: ['src/extension.ts'],
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node18',
  outfile: 'dist/extension.js',
  external: ['vscode', 'bufferutil', 'utf-8-validate'],
  minify: production,
  sourcemap: !production,
  metafile: true,
  logLevel: 'warning',
});
const bytes = result.metafile.outputs['dist/extension.js'].bytes;
console.log(`dist/extension.js: ${(bytes / 1024).toFixed(1)} KB${production ? ' (minified)' : ' (with a source map beside it)'}`);
