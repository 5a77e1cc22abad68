import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createEmptyConfig, defaultConfigPath, loadConfig, validateJoinedMesh, writeJoinedMesh } from '../../src/broker/config';
import { generateKeypair } from '../../src/broker/crypto';
import type { JoinedMesh } from '../../src/broker/types';

const keys = generateKeypair(new Uint8Array(32).fill(7));
const otherKeys = generateKeypair(new Uint8Array(32).fill(8));

function goodMesh(overrides: Partial<Record<keyof JoinedMesh, unknown>> = {}): JoinedMesh {
  return {
    meshId: 'M'.repeat(31) + '1',
    memberId: 'u'.repeat(31) + '2',
    slug: 'team',
    name: 'team',
    pubkey: keys.pubkey,
    secretKey: keys.secretKey,
    brokerUrl: 'wss://ic.example.com/ws',
    joinedAt: '2025-01-01T00:00:00.000Z',
    ...overrides,
  } as JoinedMesh;
}

describe('config', () => {
  let dir: string;
  let file: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'claudemesh-config-'));
    file = path.join(dir, 'config.json');
  });

  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function writeConfig(content: unknown): void {
    fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  }

  describe('defaultConfigPath', () => {
    it('uses CLAUDEMESH_CONFIG_DIR when that directory exists', () => {
      assert.equal(defaultConfigPath({ CLAUDEMESH_CONFIG_DIR: dir }, '/home/someone'), path.join(dir, 'config.json'));
    });

    it('falls back to ~/.claudemesh when CLAUDEMESH_CONFIG_DIR is missing or unset', () => {
      const fallback = path.join('/home/someone', '.claudemesh', 'config.json');
      assert.equal(defaultConfigPath({ CLAUDEMESH_CONFIG_DIR: path.join(dir, 'nope') }, '/home/someone'), fallback);
      assert.equal(defaultConfigPath({ CLAUDEMESH_CONFIG_DIR: file }, '/home/someone'), fallback);
      assert.equal(defaultConfigPath({}, '/home/someone'), fallback);
    });
  });

  describe('loadConfig', () => {
    it('returns every mesh and the display name of a good file', () => {
      const second = goodMesh({ meshId: 'Z'.repeat(32), pubkey: otherKeys.pubkey, secretKey: otherKeys.secretKey, rootKey: 'cm9vdA', inviteVersion: 1 });
      writeConfig({ version: 1, displayName: 'Ada', meshes: [goodMesh(), second] });
      const result = loadConfig(file);
      assert.deepEqual(result, { path: file, exists: true, meshes: [goodMesh(), second], displayName: 'Ada', problems: [] });
    });

    it('drops unknown keys from a mesh entry', () => {
      writeConfig({ version: 1, meshes: [{ ...goodMesh(), extra: 'x' }] });
      assert.deepEqual(loadConfig(file).meshes, [goodMesh()]);
    });

    const badFields: [string, Partial<Record<keyof JoinedMesh, unknown>>, RegExp][] = [
      ['a short meshId', { meshId: 'abc' }, /meshes\[1\]\.meshId must be a 32-character base62 id \(got a string of 3 characters\)\.$/],
      ['a memberId with dashes', { memberId: 'a-'.repeat(16) }, /meshes\[1\]\.memberId must be a 32-character base62 id/],
      ['an empty slug', { slug: '' }, /meshes\[1\]\.slug must be a non-empty string \(got an empty string\)/],
      ['a missing name', { name: undefined }, /meshes\[1\]\.name must be a non-empty string \(got nothing\)/],
      ['an uppercase pubkey', { pubkey: keys.pubkey.toUpperCase() }, /meshes\[1\]\.pubkey must be 64 lowercase hex/],
      ['a short secretKey', { secretKey: keys.secretKey.slice(0, 64) }, /meshes\[1\]\.secretKey must be 128 lowercase hex characters \(got a string of 64 characters\)/],
      ['a numeric secretKey', { secretKey: 42 }, /meshes\[1\]\.secretKey must be a string of 128 lowercase hex characters \(got a number\)/],
      ['a secretKey of another pubkey', { secretKey: otherKeys.secretKey }, /meshes\[1\]\.secretKey does not belong to pubkey \(its second half/],
      ['a secretKey whose seed derives another key', { secretKey: otherKeys.secretKey.slice(0, 64) + keys.pubkey }, /meshes\[1\]\.secretKey does not belong to pubkey \(its seed/],
      ['an https brokerUrl', { brokerUrl: 'https://x/ws' }, /meshes\[1\]\.brokerUrl must start with ws:\/\/ or wss:\/\//],
      ['a brokerUrl that is not a URL', { brokerUrl: 'not a url' }, /meshes\[1\]\.brokerUrl must be a ws:\/\/ or wss:\/\/ URL \(got a string of 9 characters\)/],
      ['a brokerUrl with a trailing slash', { brokerUrl: 'wss://x/ws/' }, /meshes\[1\]\.brokerUrl must end in exactly "\/ws" \(its path has 4 characters\)\.$/],
      ['a brokerUrl without a path', { brokerUrl: 'wss://x' }, /meshes\[1\]\.brokerUrl must end in exactly "\/ws"/],
      ['a brokerUrl with a query', { brokerUrl: 'wss://x/ws?x=1' }, /meshes\[1\]\.brokerUrl must not have a query string or #fragment/],
      ['a brokerUrl with an empty query', { brokerUrl: 'wss://x/ws?' }, /meshes\[1\]\.brokerUrl must not have a query string/],
      ['a numeric joinedAt', { joinedAt: 5 }, /meshes\[1\]\.joinedAt must be a date string \(got a number\)/],
      ['an unknown inviteVersion', { inviteVersion: 3 }, /meshes\[1\]\.inviteVersion must be 1 or 2/],
      ['a non-string rootKey', { rootKey: 1 }, /meshes\[1\]\.rootKey must be a string when present/],
    ];
    for (const [what, overrides, expected] of badFields) {
      it(`skips a mesh with ${what}, names the file and field, and keeps the good mesh`, () => {
        const bad = goodMesh({ meshId: 'B'.repeat(32), ...overrides });
        writeConfig({ version: 1, meshes: [goodMesh(), bad] });
        const result = loadConfig(file);
        assert.deepEqual(result.meshes, [goodMesh()]);
        assert.equal(result.problems.length, 1, result.problems.join('\n'));
        assert.ok(result.problems[0].startsWith(`${file}: meshes[1].`), result.problems[0]);
        assert.match(result.problems[0], expected);
      });
    }

    it('never puts secret key material in a problem', () => {
      const bad = [
        goodMesh({ secretKey: keys.secretKey + 'ab' }),
        goodMesh({ secretKey: keys.secretKey.toUpperCase() }),
        goodMesh({ secretKey: otherKeys.secretKey }),
        goodMesh({ secretKey: otherKeys.secretKey.slice(0, 64) + keys.pubkey }),
      ];
      writeConfig({ version: 1, meshes: bad });
      const problems = loadConfig(file).problems.join('\n');
      assert.equal(loadConfig(file).problems.length, 4);
      for (const secret of [keys.secretKey.slice(0, 64), otherKeys.secretKey.slice(0, 64)]) {
        assert.ok(!problems.toLowerCase().includes(secret.slice(0, 16)), problems);
      }
    });

    it('reports a mesh entry that is not an object', () => {
      writeConfig({ version: 1, meshes: ['oops'] });
      assert.deepEqual(loadConfig(file).problems, [`${file}: meshes[0] must be an object describing a joined mesh (got a string of 4 characters).`]);
    });

    it('uses only the first of two entries with the same meshId', () => {
      const again = goodMesh({ slug: 'again' });
      writeConfig({ version: 1, meshes: [goodMesh(), again] });
      const result = loadConfig(file);
      assert.deepEqual(result.meshes, [goodMesh()]);
      assert.match(result.problems[0], /meshes\[1\]\.meshId repeats meshes\[0\]/);
    });

    it('explains how to join when the file is missing', () => {
      const result = loadConfig(file);
      assert.equal(result.exists, false);
      assert.deepEqual(result.meshes, []);
      assert.equal(result.problems.length, 1);
      assert.match(result.problems[0], /does not exist yet/);
      assert.match(result.problems[0], /claudemesh join <invite>/);
      assert.match(result.problems[0], /Join Mesh from Invite Link/);
    });

    it('reports broken JSON with its place but without quoting the file', () => {
      writeConfig(`{"version":1,"meshes":[{"secretKey":"${keys.secretKey}" x}]}`);
      const result = loadConfig(file);
      assert.equal(result.exists, true);
      assert.deepEqual(result.meshes, []);
      assert.equal(result.problems.length, 1);
      assert.match(result.problems[0], /is not valid JSON: .*line 1, column \d+/);
      assert.ok(!result.problems[0].includes(keys.secretKey.slice(0, 16)), result.problems[0]);
    });

    it('does not quote the file for a parse error that has no position either', () => {
      writeConfig(`{"secretKey": ${keys.secretKey.slice(0, 64)}}`);
      const problem = loadConfig(file).problems[0];
      assert.match(problem, /is not valid JSON: Unexpected/);
      assert.ok(!problem.includes(keys.secretKey.slice(2, 18)), problem);
    });

    it('reports meshes that are not an array, and a file that is not an object', () => {
      writeConfig({ version: 1, meshes: { a: 1 } });
      assert.match(loadConfig(file).problems[0], /: meshes must be an array of joined meshes \(got an object\)/);
      writeConfig([goodMesh()]);
      assert.match(loadConfig(file).problems[0], /must contain a JSON object with a "meshes" array \(got an array of 1\)/);
    });

    it('reports a display name that is not a string but still loads meshes', () => {
      writeConfig({ version: 1, displayName: 7, meshes: [goodMesh()] });
      const result = loadConfig(file);
      assert.equal(result.displayName, undefined);
      assert.deepEqual(result.meshes, [goodMesh()]);
      assert.match(result.problems[0], /displayName must be a non-empty string when present \(got a number\)/);
    });

    it('reports an unreadable path instead of throwing', () => {
      fs.mkdirSync(file);
      const result = loadConfig(file);
      assert.equal(result.exists, true);
      assert.match(result.problems[0], /could not be read \(EISDIR\)/);
    });
  });

  describe('validateJoinedMesh', () => {
    it('prefixes problems with the caller-supplied place', () => {
      const { mesh, problems } = validateJoinedMesh(goodMesh({ slug: 7 }), 'the invite');
      assert.equal(mesh, undefined);
      assert.deepEqual(problems, ['the invite.slug must be a non-empty string (got a number).']);
    });
  });

  describe('writeJoinedMesh', () => {
    it('creates the file with version 1, a 0600 file and a 0700 directory', async () => {
      const nested = path.join(dir, 'fresh', 'config.json');
      await writeJoinedMesh(nested, goodMesh());
      assert.deepEqual(JSON.parse(fs.readFileSync(nested, 'utf8')), { version: 1, meshes: [goodMesh()] });
      assert.deepEqual(loadConfig(nested).meshes, [goodMesh()]);
      if (process.platform !== 'win32') {
        assert.equal(fs.statSync(nested).mode & 0o777, 0o600);
        assert.equal(fs.statSync(path.dirname(nested)).mode & 0o777, 0o700);
      }
      assert.equal(fs.existsSync(nested + '.tmp'), false);
    });

    it('replaces the mesh with the same meshId and keeps other meshes and top-level keys', async () => {
      const other = goodMesh({ meshId: 'Z'.repeat(32) });
      writeConfig({ version: 1, displayName: 'Ada', messageMode: 'inbox', meshes: [goodMesh(), other] });
      fs.chmodSync(file, 0o644);
      const rejoined = goodMesh({ memberId: 'n'.repeat(32) });
      await writeJoinedMesh(file, rejoined);
      const written = JSON.parse(fs.readFileSync(file, 'utf8'));
      assert.deepEqual(written, { version: 1, displayName: 'Ada', messageMode: 'inbox', meshes: [other, rejoined] });
      if (process.platform !== 'win32') assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    });

    it('writes through a stale temp file left by a crash', async () => {
      fs.writeFileSync(file + '.tmp', 'half-written', { mode: 0o644 });
      await writeJoinedMesh(file, goodMesh());
      assert.deepEqual(loadConfig(file).meshes, [goodMesh()]);
      if (process.platform !== 'win32') assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    });

    it('refuses to overwrite a config that is not valid JSON', async () => {
      writeConfig('{ broken');
      await assert.rejects(writeJoinedMesh(file, goodMesh()), /Refusing to overwrite .* not valid JSON/);
      assert.equal(fs.readFileSync(file, 'utf8'), '{ broken');
    });

    it('refuses to write an invalid mesh', async () => {
      await assert.rejects(writeJoinedMesh(file, goodMesh({ brokerUrl: 'wss://x/' })), /Refusing to write .*brokerUrl must end in exactly "\/ws"/);
      assert.equal(fs.existsSync(file), false);
    });
  });
  describe('createEmptyConfig', () => {
    it('writes a config with no mesh that loads without problems, as a 0600 file in a 0700 directory', async () => {
      const nested = path.join(dir, 'fresh', 'config.json');
      assert.equal(await createEmptyConfig(nested), true);
      assert.deepEqual(JSON.parse(fs.readFileSync(nested, 'utf8')), { version: 1, meshes: [] });
      assert.deepEqual(loadConfig(nested), { path: nested, exists: true, meshes: [], problems: [] });
      if (process.platform !== 'win32') {
        assert.equal(fs.statSync(nested).mode & 0o777, 0o600);
        assert.equal(fs.statSync(path.dirname(nested)).mode & 0o777, 0o700);
      }
      // A join then adds to it as it does to the CLI's own file.
      await writeJoinedMesh(nested, goodMesh());
      assert.deepEqual(loadConfig(nested).meshes, [goodMesh()]);
    });

    it('never replaces a config that is already there', async () => {
      writeConfig({ version: 1, meshes: [goodMesh()] });
      assert.equal(await createEmptyConfig(file), false);
      assert.deepEqual(loadConfig(file).meshes, [goodMesh()]);
    });
  });
});
