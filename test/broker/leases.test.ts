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

  it('deletes the stale leases, claims and temp files of crashed windows on the next acquire, and keeps live ones', async () => {
    let now = Date.now();
    const crashed = new FileLeases(dir, 'crashed', STALE, () => now);
    const live = new FileLeases(dir, 'live', STALE, () => now);
    for (let i = 0; i < 5; i++) await crashed.tryAcquire(`old/${i}`);
    await live.tryAcquire('kept');
    // What a crash in the middle of a takeover leaves: its claim and its temp file.
    const half = crashed.fileOf('old/0');
    fs.writeFileSync(`${half}.123.claim`, 'crashed');
    fs.writeFileSync(`${half}.crashed.tmp`, 'crashed');
    now += STALE + 1_000;
    assert.equal(await live.renew('kept'), true);
    const files = () => fs.readdirSync(dir).sort();
    assert.equal(files().length, 8);

    const next = new FileLeases(dir, 'next', STALE, () => now);
    assert.equal(await next.tryAcquire('new'), true);
    assert.deepEqual(files(), [path.basename(live.fileOf('kept')), path.basename(next.fileOf('new'))].sort());
    assert.equal(await next.tryAcquire('kept'), false, 'the live lease is still held');
    assert.equal(await crashed.renew('old/1'), true, 'a window thought gone that wakes up takes its free lease back');
  });

  it('lets exactly one of a sweeper and a window taking over the same stale lease act on it', async () => {
    let now = Date.now();
    await new FileLeases(dir, 'crashed', STALE, () => now).tryAcquire('n');
    now += STALE + 1_000;
    for (let round = 0; round < 10; round++) {
      const [sweeper, taker] = [new FileLeases(dir, `sweeper${round}`, STALE, () => now), new FileLeases(dir, `taker${round}`, STALE, () => now)];
      const [, took] = await Promise.all([sweeper.sweep(), taker.tryAcquire('n')]);
      const owner = fs.existsSync(taker.fileOf('n')) ? fs.readFileSync(taker.fileOf('n'), 'utf8') : undefined;
      assert.equal(owner === `taker${round}`, took, `round ${round}: the file says ${owner}, the taker says ${took}`);
      now += STALE + 1_000; // this round's lease goes stale for the next
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
