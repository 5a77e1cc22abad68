#!/usr/bin/env node
// Runs the broker client's issue-12 scenarios against a real claudemesh broker (not CI; see ../shared/real-broker/).
// Usage, after `npx tsc -p .` and the real broker's start.sh:
//   node scripts/real-broker-scenarios.js [$REAL_BROKER_HOME]
//   SCENARIOS=order,odd,own,dnd,broadcast,size,webhook,grace   (the default: all of them; grace takes ~2 min)
// Uses the two member configs that start.sh writes (member-a, member-b). Prints one line per finding; no message text
// other than the test's own, no keys.
'use strict';
const os = require('os');
const path = require('path');
const WebSocket = require('ws');
const { MeshClient, MemoryStore, loadConfig, generateKeypair, mintAttestation, signSessionHello } = require('../out/src/broker');

const home = process.argv[2] || process.env.REAL_BROKER_HOME || path.join(os.homedir(), '.cache', 'claudemesh-real-broker');
const meshOf = (who) => {
  const { meshes, problems } = loadConfig(path.join(home, who, 'config.json'));
  if (!meshes.length) throw new Error(`${who}: ${problems.join('; ')}`);
  return meshes[0];
};
const A = meshOf('member-a');
const B = meshOf('member-b');
const log = { trace() {}, debug() {}, info() {}, warn: (m) => console.log(`    [warn] ${m}`), error: (m) => console.log(`    [error] ${m}`) };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const clients = [];

function client(mesh, name, extra = {}) {
  const c = new MeshClient({ mesh, store: new MemoryStore(), sessionKey: generateKeypair(), sessionId: `${name}-${process.pid}-${clients.length}`, displayName: name, cwd: `/scenario/${name}`, log, deliveryPollMs: 250, ...extra });
  clients.push(c);
  return c;
}

async function connected(...cs) {
  for (const c of cs) c.connect();
  for (const c of cs) await until(() => c.state.kind === 'connected', `${c.displayName} connected`, 15_000);
}

async function until(check, what, limitMs = 20_000) {
  const deadline = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

/** A raw session_hello whose optional fields are odd (the real broker copies them into every peers_list). */
function oddPeer(mesh, fields = { displayName: 'Odd', model: 1, hostname: {} }) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(mesh.brokerUrl);
    const key = generateKeypair();
    ws.once('error', reject);
    ws.once('open', () => {
      const ts = Date.now();
      ws.send(JSON.stringify({
        type: 'session_hello', meshId: mesh.meshId, parentMemberId: mesh.memberId, parentMemberPubkey: mesh.pubkey, sessionPubkey: key.pubkey,
        parentAttestation: mintAttestation(mesh.pubkey, mesh.secretKey, key.pubkey, ts + 3600_000), sessionId: `odd-${process.pid}`, pid: process.pid,
        cwd: '/odd', ...fields, timestamp: ts, signature: signSessionHello(mesh.meshId, mesh.pubkey, key.pubkey, key.secretKey, ts),
      }));
    });
    ws.once('message', (data) => (JSON.parse(data.toString()).type === 'hello_ack' ? resolve(ws) : reject(new Error(data.toString()))));
  });
}

async function order(alice, bob) {
  const got = [];
  const sub = bob.onDidReceiveMessage((m) => m.text?.startsWith('order ') && got.push(Number(m.text.slice(6))));
  const t0 = performance.now();
  for (let i = 0; i < 30; i++) await alice.send(bob.sessionPubkey, `order ${i}`, { label: 'Bob' });
  await until(() => got.length === 30, '30 DMs', 90_000);
  sub.dispose();
  const inOrder = got.every((n, i) => n === i);
  console.log(`order: 30 DMs arrived ${inOrder ? 'in order' : 'OUT OF ORDER: ' + got.join(',')} in ${Math.round(performance.now() - t0)} ms (rate-limited: burst 10, 60/min)`);
  await until(() => alice.outbox.filter((r) => r.text.startsWith('order ')).every((r) => r.status === 'delivered'), 'delivered', 30_000)
    .then(() => console.log('order: all 30 rows went sent -> delivered (message_status)'), (e) => console.log(`order: ${e.message}`));
}

async function odd(alice) {
  const ws = await oddPeer(B);
  const t0 = performance.now();
  const peers = await alice.listPeers();
  const row = peers.find((p) => p.displayName === 'Odd');
  console.log(`odd peer: list_peers answered in ${Math.round(performance.now() - t0)} ms with ${peers.length} rows; Odd listed=${!!row}, model=${JSON.stringify(row?.model)}, hostname=${JSON.stringify(row?.hostname)}`);
  ws.close();
}

async function ownStatus(alice) {
  const mine = () => alice.peers.find((p) => p.pubkey === alice.sessionPubkey);
  await alice.setStatus('dnd');
  const raw = (await alice.listPeers()).find((p) => p.pubkey === alice.sessionPubkey);
  console.log(`own status: after set_status dnd and a list_peers right after, list_peers returned ${raw?.status} and the own row shows ${mine()?.status}`);
  await alice.setSummary('scenario summary');
  await alice.listPeers();
  console.log(`own summary: own row shows ${JSON.stringify(mine()?.summary)}`);
  await alice.setStatus('idle');
  await alice.listPeers();
  console.log(`own status: after idle the own row shows ${mine()?.status}`);
}

async function dndDrain(alice, bob) {
  const got = [];
  const sub = bob.onDidReceiveMessage((m) => m.text === 'held for dnd' && got.push(performance.now()));
  await bob.setStatus('dnd');
  await sleep(300);
  await alice.send(bob.sessionPubkey, 'held for dnd', { label: 'Bob' });
  await sleep(1_500);
  console.log(`dnd drain: while dnd, delivered=${got.length > 0}`);
  const t0 = performance.now();
  await bob.setStatus('idle');
  await until(() => got.length > 0, 'the held DM after idle', 10_000).catch(() => undefined);
  console.log(`dnd drain: after idle, ${got.length ? `arrived ${Math.round(got[0] - t0)} ms after setStatus('idle') began` : 'NOT arrived within 10 s'}`);
  sub.dispose();
}

async function grace(alice, bobMember) {
  const bob2 = client(bobMember, 'Bob2');
  const bob3 = client(bobMember, 'Bob3');
  await connected(bob2, bob3);
  await alice.listPeers();
  await bob2.dispose();
  const row = await alice.send(bob2.sessionPubkey, 'to a session in grace', { label: 'Bob2' });
  const t0 = performance.now();
  await until(() => alice.outbox.find((r) => r.clientMessageId === row.clientMessageId)?.status === 'sent', 'acked', 15_000);
  console.log('grace: DM to a session whose socket closed was acked (sent); waiting for its grace to end (90 s)...');
  await until(() => alice.outbox.find((r) => r.clientMessageId === row.clientMessageId)?.status === 'not_delivered', 'not delivered', 150_000);
  const r = alice.outbox.find((x) => x.clientMessageId === row.clientMessageId);
  console.log(`grace: became not_delivered ${Math.round((performance.now() - t0) / 1000)} s after sending: "${r.notDeliveredReason}"`);
  const others = alice.otherSessionsFor(r);
  console.log(`grace: other sessions of that member offered: ${others.map((p) => p.displayName + ' ' + p.cwd).join(', ')}`);
  const got = [];
  bob3.onDidReceiveMessage((m) => got.push(m));
  await alice.resendTo(row.clientMessageId, bob3.sessionPubkey);
  await until(() => got.length > 0, 'the redirected DM', 15_000);
  console.log(`grace: sent to Bob3 instead; it arrived with id ${got[0].id === row.clientMessageId ? '= the same client_message_id' : 'DIFFERENT'}`);
  await until(() => alice.outbox.find((x) => x.clientMessageId === row.clientMessageId)?.status === 'delivered', 'delivered', 20_000)
    .then(() => console.log('grace: the redirected row is delivered'), (e) => console.log(`grace: ${e.message}`));
}

/** A raw request on a raw session: resolves with the reply carrying its _reqId. */
function rawRequest(ws, frame) {
  const reqId = `raw-${Math.random().toString(36).slice(2)}`;
  return new Promise((resolve) => {
    const onMessage = (data) => {
      const reply = JSON.parse(data.toString());
      if (reply._reqId !== reqId) return;
      ws.off('message', onMessage);
      resolve(reply);
    };
    ws.on('message', onMessage);
    ws.send(JSON.stringify({ ...frame, _reqId: reqId }));
  });
}

async function broadcast(alice, bob) {
  const got = [];
  const sub = bob.onDidReceiveMessage((m) => m.text === 'scenario broadcast' && got.push(m));
  const row = await alice.send('*', 'scenario broadcast', { label: 'everyone' });
  await until(() => got.length > 0, 'the broadcast', 15_000);
  await sleep(2_000);
  sub.dispose();
  const r = alice.outbox.find((x) => x.clientMessageId === row.clientMessageId);
  console.log(`broadcast: arrived ${got.length} time(s) at Bob, as ${got[0].kind ?? 'message'} from ${got[0].senderName ?? '?'}; push carried client_message_id=${got[0].id === row.clientMessageId}; Alice's row ${r?.status}`);
}

async function size(alice) {
  const before = alice.state.kind;
  const text = 'x'.repeat(70 * 1024);
  for (const [what, run] of [['remember', () => alice.remember(text)], ['shareSkill', () => alice.shareSkill({ name: 'scenario-big', description: 'big', instructions: text })]]) {
    try {
      await run();
      console.log(`size: ${what} of 70 KiB was SENT (no size check)`);
    } catch (err) {
      console.log(`size: ${what} of 70 KiB refused before writing: "${err.message}"`);
    }
  }
  const peers = await alice.listPeers();
  console.log(`size: connection ${before} -> ${alice.state.kind}, list_peers right after answered with ${peers.length} rows`);
  // What the real broker (Bun) does with a frame over its limit, on a raw session of its own.
  const ws = await oddPeer(A, { displayName: 'Big' });
  const outcome = await Promise.race([
    rawRequest(ws, { type: 'list_peers', padding: 'x'.repeat(100 * 1024) }).then((reply) => `answered "${reply.type}"`),
    new Promise((resolve) => ws.once('close', (code) => resolve(`closed the socket (code ${code})`))),
    sleep(5_000).then(() => 'neither answered nor closed within 5 s'),
  ]);
  console.log(`size: a raw 100 KiB frame to the real broker: it ${outcome}`);
  ws.close();
}

async function webhook(alice, bob) {
  const ws = await oddPeer(A, { displayName: 'Hooker' });
  const name = `scenario-${process.pid}`;
  const ack = await rawRequest(ws, { type: 'create_webhook', name });
  ws.close();
  if (ack.type !== 'webhook_ack') return console.log(`webhook: create_webhook answered ${JSON.stringify(ack.type)} ${ack.code ?? ''}`);
  const got = [];
  const sub = bob.onDidReceiveMessage((m) => m.webhook && got.push(m));
  const url = new URL(alice.mesh.brokerUrl);
  const res = await fetch(`http://${url.host}/hook/${alice.mesh.meshId}/${ack.secret}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ build: 'green', n: 7 }) });
  await until(() => got.length > 0, 'the webhook push', 10_000).catch(() => undefined);
  sub.dispose();
  console.log(`webhook: POST answered ${res.status}; Bob got ${got.length ? `subtype=${got[0].subtype} webhook=${got[0].webhook === name ? 'the name' : JSON.stringify(got[0].webhook)} text=${got[0].text}` : 'NOTHING'}`);
}

async function main() {
  const alice = client(A, 'Alice');
  const bob = client(B, 'Bob');
  await connected(alice, bob);
  await alice.listPeers();
  const only = process.env.SCENARIOS ? process.env.SCENARIOS.split(',') : ['order', 'odd', 'own', 'dnd', 'broadcast', 'size', 'webhook', 'grace'];
  if (only.includes('order')) await order(alice, bob);
  if (only.includes('odd')) await odd(alice);
  if (only.includes('own')) await ownStatus(alice);
  if (only.includes('dnd')) await dndDrain(alice, bob);
  if (only.includes('broadcast')) await broadcast(alice, bob);
  if (only.includes('size')) await size(alice);
  if (only.includes('webhook')) await webhook(alice, bob);
  if (only.includes('grace')) await grace(alice, B);
}

main()
  .catch((err) => {
    console.log(`FAILED: ${err.message}`);
    process.exitCode = 1;
  })
  .finally(() => Promise.all(clients.map((c) => c.dispose())));
