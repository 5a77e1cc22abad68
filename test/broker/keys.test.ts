import * as assert from 'node:assert/strict';
import { ANY_CASE_PUBLIC_KEY, BASE62_ID, PUBLIC_KEY, SECRET_KEY, SIGNATURE } from '../../src/broker/keys';
import { generateKeypair } from '../../src/broker/crypto';

describe('key formats', () => {
  const { pubkey, secretKey } = generateKeypair(new Uint8Array(32).fill(1));

  it('takes only lowercase hex for keys we send or store, since the broker matches keys exactly', () => {
    assert.ok(PUBLIC_KEY.test(pubkey));
    assert.ok(SECRET_KEY.test(secretKey));
    assert.equal(PUBLIC_KEY.test(pubkey.toUpperCase()), false);
    assert.equal(SECRET_KEY.test(secretKey.toUpperCase()), false);
    assert.equal(PUBLIC_KEY.test(secretKey), false, 'a secret key is not a public key');
    assert.equal(SECRET_KEY.test(pubkey), false);
  });

  it('takes either case for signatures and for public keys only verified with', () => {
    assert.ok(ANY_CASE_PUBLIC_KEY.test(pubkey.toUpperCase()));
    assert.ok(SIGNATURE.test('AB'.repeat(64)));
    assert.equal(SIGNATURE.test('ab'.repeat(63)), false);
    assert.equal(ANY_CASE_PUBLIC_KEY.test(`${pubkey}0`), false);
  });

  it('takes a 32-character base62 id, and nothing longer, shorter or with other characters', () => {
    assert.ok(BASE62_ID.test('aZ09'.repeat(8)));
    for (const bad of ['aZ09'.repeat(8) + 'x', 'aZ0', 'aZ0-'.repeat(8)]) assert.equal(BASE62_ID.test(bad), false, bad);
  });
});
