/**
 * A mocha `--require` hook (see .mocharc.json): from here on `require('vscode')` loads test/support/fakeVscode,
 * with the configuration defaults that package.json contributes, so extension code runs under plain Node.
 */
import Module = require('module');
import * as path from 'path';
import { loadManifestDefaults } from './fakeVscode';

const fakePath = require.resolve('./fakeVscode');
const moduleInternals = Module as unknown as { _resolveFilename(request: string, ...rest: unknown[]): string };
const resolveFilename = moduleInternals._resolveFilename;
moduleInternals._resolveFilename = function (request: string, ...rest: unknown[]): string {
  return request === 'vscode' ? fakePath : resolveFilename.call(this, request, ...rest);
};

loadManifestDefaults(path.resolve(__dirname, '../../../package.json'));
