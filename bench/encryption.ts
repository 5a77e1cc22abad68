/**
 * Figure 2, encryption: the per-message cost of encryptDirect to a peer whose shared key is cached, versus raw
 * nacl.secretbox of the same bytes (the floor), and versus a full nacl.box every time (what the cache saves).
 * The three alternate in small batches, so a burst of load from elsewhere on the machine lands on all of them.
 */
import nacl from 'tweetnacl';
import { edPublicToCurve, edSecretToCurve, encryptDirect, generateKeypair, SharedKeyCache } from '../src/broker/crypto';
import { now, Pair, ratioRow, Row } from './measure';

/** A typical DM: a sentence or two. */
export const DM_TEXT = 'Could you look at the outbox change before I merge it? The drain test is green here, and I kept the record format.';

const ROUNDS = 40;
const BATCH = 250;
const FULL_BOX_BATCH = 5;

function timeBatch(count: number, body: () => unknown): number {
  const start = now();
  for (let i = 0; i < count; i++) body();
  return now() - start;
}

/** Microseconds per message for each way of sealing the same text to the same peer. */
function measureOnce(): { cached: number; secretbox: number; fullBox: number } {
  const own = generateKeypair();
  const peer = generateKeypair();
  const keys = new SharedKeyCache(own.secretKey);
  const sharedKey = keys.shared(peer.pubkey);
  const bytes = new TextEncoder().encode(DM_TEXT);
  const nonce = nacl.randomBytes(nacl.box.nonceLength);
  const peerCurve = edPublicToCurve(peer.pubkey);
  const ownCurve = edSecretToCurve(own.secretKey);
  let cached = 0;
  let secretbox = 0;
  let fullBox = 0;
  for (let round = 0; round < ROUNDS; round++) {
    cached += timeBatch(BATCH, () => encryptDirect(DM_TEXT, peer.pubkey, keys));
    secretbox += timeBatch(BATCH, () => nacl.secretbox(bytes, nonce, sharedKey));
    fullBox += timeBatch(FULL_BOX_BATCH, () => nacl.box(bytes, nonce, peerCurve, ownCurve));
  }
  const perMessage = (ms: number, count: number) => (ms * 1000) / (ROUNDS * count);
  return { cached: perMessage(cached, BATCH), secretbox: perMessage(secretbox, BATCH), fullBox: perMessage(fullBox, FULL_BOX_BATCH) };
}

export function encryption(runs: number): Row[] {
  measureOnce(); // warm-up: let the JIT settle on all three paths
  const vsSecretbox: Pair[] = [];
  const vsFullBox: Pair[] = [];
  for (let run = 0; run < runs; run++) {
    const { cached, secretbox, fullBox } = measureOnce();
    vsSecretbox.push({ ours: cached, baseline: secretbox });
    vsFullBox.push({ ours: cached, baseline: fullBox });
  }
  return [
    ratioRow(`2a. Encrypt a ${DM_TEXT.length}-char DM, cached key (vs raw nacl.secretbox)`, 'µs', vsSecretbox, { atMost: 1.3 }),
    ratioRow('2b. Same, vs a full nacl.box every time (what the cache saves)', 'µs', vsFullBox),
  ];
}
