import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileStore } from '../../src/broker/store';

describe('FileStore (the store of the README example)', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'claudemesh-filestore-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('gives a new store on the same folder every record the last one wrote, keys with slashes included', async () => {
    const first = new FileStore(dir);
    await first.update('claudemesh.outbox/mesh/000000000001', { text: 'hello' });
    await first.update('plain', 42);
    const second = new FileStore(dir);
    assert.deepEqual([...second.keys()].sort(), ['claudemesh.outbox/mesh/000000000001', 'plain']);
    assert.deepEqual(second.get('claudemesh.outbox/mesh/000000000001'), { text: 'hello' });
    assert.equal(second.get('plain'), 42);
  });

  it('leaves the last of several quick updates to one key on disk, and deletes a key set to undefined', async () => {
    const store = new FileStore(dir);
    await Promise.all([store.update('k', 1), store.update('k', 2), store.update('k', 3)]);
    assert.equal(new FileStore(dir).get('k'), 3);
    await store.update('k', undefined);
    assert.equal(store.get('k'), undefined);
    assert.deepEqual([...new FileStore(dir).keys()], []);
  });

  it('skips an unreadable record instead of failing to open', () => {
    fs.writeFileSync(path.join(dir, 'broken.json'), '{not json');
    fs.writeFileSync(path.join(dir, 'good.json'), '"fine"');
    const store = new FileStore(dir);
    assert.deepEqual([...store.keys()], ['good']);
  });
});
