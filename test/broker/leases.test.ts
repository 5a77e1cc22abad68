import * as assert from 'node:assert/strict';
import { execFile } from 'child_process';
import { promisify } from 'util';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { FileLeases } from '../../src/broker/leases';

const STALE = 60_000;

describe('lease files shared by several windows', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'claudemesh-leases-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('gives a free name to one window only, and again to that window', async () => {
    const a = new FileLeases(dir, 'window-a', STALE);
    const b = new FileLeases(dir, 'window-b', STALE);
    assert.equal(await a.tryAcquire('mesh/ws/0'), true);
    assert.equal(await b.tryAcquire('mesh/ws/0'), false);
    assert.equal(await a.tryAcquire('mesh/ws/0'), true);
    assert.equal(await b.tryAcquire('mesh/ws/1'), true);
  });

  it('frees a name on release, and never releases another window’s lease', async () => {
    const a = new FileLeases(dir, 'window-a', STALE);
    const b = new FileLeases(dir, 'window-b', STALE);
    await a.tryAcquire('n');
    await b.release('n');
    assert.equal(await b.tryAcquire('n'), false);
    await a.release('n');
    assert.equal(await b.tryAcquire('n'), true);
  });

  it('lets one window take over a lease left stale by a crashed one; the crashed one learns on its next beat', async () => {
    let now = Date.now();
    const crashed = new FileLeases(dir, 'crashed', STALE, () => now);
    await crashed.tryAcquire('n');
    now += STALE + 1_000;
    const [b, c] = [new FileLeases(dir, 'window-b', STALE, () => now), new FileLeases(dir, 'window-c', STALE, () => now)];
    const won = await Promise.all([b.tryAcquire('n'), c.tryAcquire('n')]);
    assert.deepEqual(won.filter(Boolean).length, 1, `exactly one takes it over: ${won}`);
    assert.equal(await crashed.renew('n'), false);
  });

  it('keeps a renewed lease: a heartbeat touches the file, so it never looks stale', async () => {
    let now = Date.now();
    const a = new FileLeases(dir, 'window-a', STALE, () => now);
    const b = new FileLeases(dir, 'window-b', STALE, () => now);
    await a.tryAcquire('n');
    for (let beat = 0; beat < 5; beat++) {
      now += 20_000;
      assert.equal(await a.renew('n'), true);
      assert.equal(await b.tryAcquire('n'), false);
    }
  });

  it('names no file after the lease name (names come from configs and invites)', async () => {
    const a = new FileLeases(dir, 'window-a', STALE);
    await a.tryAcquire('../../etc/passwd');
    assert.deepEqual(fs.readdirSync(dir).map((f) => /^[0-9a-f]{32}\.lock$/.test(f)), [true]);
  });

  it('gives one name to exactly one of eight processes racing for it', async function () {
    this.timeout(30_000);
    const script = `const { FileLeases } = require(${JSON.stringify(require.resolve('../../src/broker/leases'))});
      new FileLeases(process.argv[1], 'proc-' + process.pid, ${STALE}).tryAcquire('contested').then((won) => process.stdout.write(won ? 'won' : 'lost'));`;
    const results = await Promise.all(
      Array.from({ length: 8 }, async () => (await promisify(execFile)(process.execPath, ['-e', script, dir])).stdout),
    );
    assert.equal(results.filter((r) => r === 'won').length, 1, results.join(' '));
  });
});
