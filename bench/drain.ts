/**
 * Figure 1, outbox drain: 5,000 DMs through MeshClient (encrypt, persist, send, ack, persist) against the local
 * broker with its rate limit off (and its per-frame delay off, so both sides see the same pipe), versus a raw `ws`
 * client that writes the same number of pre-built `send` frames to the same kind of broker and recipients at once
 * and just waits for the acks: the limit of the pipe. Both sides are timed to the later of their last ack and the
 * recipients' last message received: everything runs on one thread, and the raw client's acks come back while most
 * of its pushes still wait in the recipients' sockets, so timing it to its acks alone left out about a quarter of
 * the work it causes (the decrypt, store and client_ack of every message), which the paced outbox pays inside its
 * window.
 *
 * 1a spreads the DMs over 50 recipients (the goal). 1b sends them all to one recipient: the outbox keeps one `send`
 * in flight per recipient (the real broker handles frames concurrently, so two in flight to one recipient can land in
 * either order, docs/protocol.md §11), so that drain pays one round trip per message, while the raw client pipelines
 * and would scramble the order on the real broker. It has no goal; it says what order costs.
 */
import { randomUUID } from 'crypto';
import WebSocket from 'ws';
import type { MeshClient } from '../src/broker/client';
import { destinationOf, encryptDirect, mintAttestation, requestFingerprint, SharedKeyCache, signSessionHello } from '../src/broker/crypto';
import type { OutboxRow } from '../src/broker/types';
import { acked, Member, MeshFixture, waitForState } from '../test/support/meshFixture';
import { now, Pair, ratioRow, Row } from './measure';

const MESSAGES = 5_000;

function text(i: number): string {
  return `benchmark message ${i}: the quick brown fox jumps over the lazy dog`;
}

/** A fresh broker per measurement: its queue only grows, and a longer queue would slow whichever side ran second. */
async function withRecipients<T>(count: number, body: (fx: MeshFixture, recipients: MeshClient[]) => Promise<T>): Promise<T> {
  const fx = await MeshFixture.start({ rateLimit: false, frameDelayMs: 0 });
  try {
    const recipients = Array.from({ length: count }, (_, i) => fx.client(fx.member(`Recipient${i}`)));
    for (const r of recipients) r.connect();
    for (const r of recipients) await waitForState(r, 'connected');
    return await body(fx, recipients);
  } finally {
    await fx.close();
  }
}

/**
 * Resolves at the moment the recipients, together, have received `messages` messages. The recipients share this
 * process with the sender and the broker, so their work (decrypt, store, client_ack) runs on the same thread: a
 * sender that is done at its last ack while their pushes still wait in socket buffers would be timed without it.
 */
function allReceived(recipients: readonly MeshClient[], messages: number): Promise<number> {
  let received = 0;
  return new Promise((resolve) => {
    for (const r of recipients) {
      r.onDidReceiveMessage(() => {
        if (++received === messages) resolve(now());
      });
    }
  });
}

/** Messages per second through MeshClient, from the first send() to the last ack recorded in the outbox and the last message received. */
export async function throughMeshClient(messages: number, recipientCount: number): Promise<number> {
  return withRecipients(recipientCount, async (fx, recipients) => {
    // Delivery checks (message_status) start a second after each ack, after this measurement.
    const sender = fx.client(fx.member('Sender'), { rateLimit: false, deliveryPollMs: 60_000 });
    sender.connect();
    await waitForState(sender, 'connected');
    let enqueued = 0;
    const received = allReceived(recipients, messages);
    const done = new Promise<number>((resolve, reject) => {
      sender.onDidChangeOutbox((rows: readonly OutboxRow[]) => {
        if (enqueued < messages) return;
        // Rows come in send order and the oldest are acked first: while the drain is under way this stops early.
        for (const row of rows) {
          if (row.status === 'failed') reject(new Error(`outbox drain: a message failed: ${row.lastError}`));
          if (!acked(row)) return;
        }
        resolve(now());
      });
    });
    const start = now();
    for (let i = 0; i < messages; i++) {
      await sender.send(recipients[i % recipients.length].sessionPubkey, text(i), { label: 'Recipient' });
      enqueued++;
    }
    const end = Math.max(await done, await received);
    return (messages * 1000) / (end - start);
  });
}

function openSocket(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** The same session_hello MeshClient sends (docs/protocol.md §3), written by hand. */
async function helloRaw(ws: WebSocket, member: Member): Promise<void> {
  const { mesh, sessionKey } = member;
  const timestamp = Date.now();
  const acked = new Promise<void>((resolve, reject) => {
    ws.once('message', (data) => {
      const frame = JSON.parse(data.toString());
      if (frame.type === 'hello_ack') resolve();
      else reject(new Error(`raw client: session_hello was answered with ${data.toString()}`));
    });
  });
  ws.send(
    JSON.stringify({
      type: 'session_hello',
      meshId: mesh.meshId,
      parentMemberId: mesh.memberId,
      parentMemberPubkey: mesh.pubkey,
      sessionPubkey: sessionKey.pubkey,
      parentAttestation: mintAttestation(mesh.pubkey, mesh.secretKey, sessionKey.pubkey, timestamp + 3600_000),
      sessionId: `raw-${randomUUID()}`,
      pid: process.pid,
      cwd: '/tmp',
      displayName: member.name,
      timestamp,
      signature: signSessionHello(mesh.meshId, mesh.pubkey, sessionKey.pubkey, sessionKey.secretKey, timestamp),
    }),
  );
  await acked;
}

/** Messages per second for pre-encrypted, pre-serialised send frames written straight to the socket, to the last ack and the last message received. */
export async function throughRawSocket(messages: number, recipientCount: number): Promise<number> {
  return withRecipients(recipientCount, async (fx, recipients) => {
    const member = fx.member('Raw');
    const keys = new SharedKeyCache(member.sessionKey.secretKey);
    const frames = Array.from({ length: messages }, (_, i) => {
      const to = recipients[i % recipients.length].sessionPubkey;
      return JSON.stringify({
        type: 'send',
        id: `r${i}`,
        targetSpec: to,
        priority: 'next',
        ...encryptDirect(text(i), to, keys),
        client_message_id: randomUUID(),
        request_fingerprint: requestFingerprint({ ...destinationOf(to), priority: 'next', body: text(i) }),
      });
    });
    const ws = await openSocket(fx.broker.url);
    try {
      await helloRaw(ws, member);
      let acked = 0;
      const done = new Promise<number>((resolve, reject) => {
        ws.on('message', (data) => {
          const frame = JSON.parse(data.toString());
          if (frame.type !== 'ack') return;
          if (!frame.queued) reject(new Error(`raw client: the broker refused a send: ${frame.error}`));
          if (++acked === messages) resolve(now());
        });
      });
      const received = allReceived(recipients, messages);
      const start = now();
      for (const frame of frames) ws.send(frame);
      const end = Math.max(await done, await received);
      return (messages * 1000) / (end - start);
    } finally {
      ws.close();
    }
  });
}

async function drainPairs(runs: number, recipients: number): Promise<Pair[]> {
  // One small round each way first, so neither side pays for JIT warm-up in a measured run.
  await throughMeshClient(500, recipients);
  await throughRawSocket(500, recipients);
  const pairs: Pair[] = [];
  for (let run = 0; run < runs; run++) {
    // Alternate which side goes first, so neither always runs on a warmer (or more fragmented) heap.
    if (run % 2 === 0) {
      const ours = await throughMeshClient(MESSAGES, recipients);
      pairs.push({ ours, baseline: await throughRawSocket(MESSAGES, recipients) });
    } else {
      const baseline = await throughRawSocket(MESSAGES, recipients);
      pairs.push({ ours: await throughMeshClient(MESSAGES, recipients), baseline });
    }
  }
  return pairs;
}

export async function outboxDrain(runs: number): Promise<Row[]> {
  return [
    ratioRow('1a. Outbox drain, 5,000 DMs to 50 recipients sent, acked and received (vs raw ws client)', 'msg/s', await drainPairs(runs, 50), { atLeast: 0.8 }),
    ratioRow('1b. Outbox drain, 5,000 DMs to one recipient, one send in flight for order (vs raw ws client, unordered)', 'msg/s', await drainPairs(runs, 1)),
  ];
}
