// Bundles the extension into one CommonJS file; `vscode` is provided by the host. ws's optional native
// accelerators are left out on purpose: ws falls back to its JS implementation when they are absent.
import * as esbuild from 'esbuild';

const production = process.argv.includes('--production');
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
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(`dist/extension.js: ${(bytes / 1024).toFixed(1)} KB${production ? ' (minified)' : ''}`);
