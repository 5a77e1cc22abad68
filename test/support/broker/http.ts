/**
 * HTTP routes on the broker port (docs/protocol.md §9): `POST /join` (broker) plus the two public invite look-ups that
 * the real deployment serves from the web API host.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BrokerContext } from './context';
import type { InviteRow } from './database';
import { canonicalInvite, decodeInviteToken, isRecord, randomBase62, verifyHexSignature } from './primitives';

function writeJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

export function handleHttpRequest(ctx: BrokerContext, req: IncomingMessage, res: ServerResponse): void {
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Allow-Methods', 'POST, GET, OPTIONS');
  res.setHeader('Access-Control-Allow-Headers', 'Content-Type');
  if (req.method === 'OPTIONS') {
    res.writeHead(204);
    res.end();
    return;
  }
  const path = (req.url ?? '').split('?')[0];
  if (req.method === 'POST' && req.url === '/join') return readBody(ctx, req, res, (body) => join(ctx, body, res));
  const codeMatch = /^\/api\/public\/invite-code\/([^/]+)$/.exec(path);
  if (req.method === 'GET' && codeMatch) return lookUpCode(ctx, decodeSegment(codeMatch[1]), res);
  const tokenMatch = /^\/api\/public\/invite\/([^/]+)$/.exec(path);
  if (req.method === 'GET' && tokenMatch) return writeJson(res, 200, previewInvite(ctx, decodeSegment(tokenMatch[1])));
  res.writeHead(404);
  res.end('not found');
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Bodies over maxPayload get 413 `payload too large`; unparsable JSON is a 500 with the parser's message. */
function readBody(ctx: BrokerContext, req: IncomingMessage, res: ServerResponse, onJson: (body: unknown) => void): void {
  const chunks: Buffer[] = [];
  let total = 0;
  let aborted = false;
  req.on('data', (chunk: Buffer) => {
    if (aborted) return;
    total += chunk.length;
    if (total > ctx.options.maxPayload) {
      aborted = true;
      writeJson(res, 413, { ok: false, error: 'payload too large' });
      req.resume();
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (aborted) return;
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (e) {
      writeJson(res, 500, { ok: false, error: e instanceof Error ? e.message : String(e) });
      return;
    }
    onJson(body);
  });
}

function join(ctx: BrokerContext, body: unknown, res: ServerResponse): void {
  const b = isRecord(body) ? body : {};
  const { invite_token: token, invite_payload: payload, peer_pubkey: peerPubkey, display_name: displayName } = b;
  if (!token || !payload || !peerPubkey || !displayName) {
    return writeJson(res, 400, { ok: false, error: 'invite_token, invite_payload, peer_pubkey, display_name required' });
  }
  if (typeof peerPubkey !== 'string' || !/^[0-9a-f]{64}$/i.test(peerPubkey)) {
    return writeJson(res, 400, { ok: false, error: 'peer_pubkey must be 64 hex chars (32 bytes)' });
  }
  const fail = (error: string) => writeJson(res, 400, { ok: false, error });
  const p = isRecord(payload) ? payload : {};
  if (verifyHexSignature(canonicalInvite(p), p.signature, p.owner_pubkey) !== 'ok') return fail('invite_bad_signature');
  const mesh = ctx.db.meshes.get(String(p.mesh_id));
  if (!mesh) return fail('mesh_not_found');
  if (!mesh.ownerPubkey) return fail('mesh_missing_owner_key');
  if (mesh.ownerPubkey !== p.owner_pubkey) return fail('invite_owner_mismatch');
  const invite = ctx.db.invites.find((i) => i.token === token);
  if (!invite) return fail('invite_not_found');
  if (invite.meshId !== p.mesh_id) return fail('invite_mesh_mismatch');
  if (invite.revoked) return fail('invite_revoked');
  if (invite.expiresAt * 1000 < Date.now()) return fail('invite_expired');
  // Idempotent per pubkey, without burning a use.
  const existing = ctx.db.liveMember(mesh.meshId, peerPubkey);
  if (existing) return writeJson(res, 200, { ok: true, memberId: existing.memberId, alreadyMember: true });
  if (isExhausted(invite)) return fail('invite_exhausted');
  invite.usedCount++;
  const memberId = randomBase62(32);
  ctx.db.members.push({
    meshId: mesh.meshId,
    memberId,
    pubkey: peerPubkey,
    displayName: String(displayName),
    groups: [],
    revoked: false,
    role: p.role === 'admin' ? 'admin' : 'member',
    roleTag: null,
    messageMode: 'push',
  });
  ctx.log(`join: ${String(displayName)} → ${mesh.slug} (${memberId})`);
  writeJson(res, 200, { ok: true, memberId });
}

function isExhausted(invite: InviteRow): boolean {
  return invite.maxUses !== null && invite.usedCount >= invite.maxUses;
}

function lookUpCode(ctx: BrokerContext, code: string, res: ServerResponse): void {
  const invite = ctx.db.invites.find((i) => i.code === code);
  if (invite) writeJson(res, 200, { found: true, token: invite.token });
  else writeJson(res, 404, { found: false });
}

function previewInvite(ctx: BrokerContext, token: string): Record<string, unknown> {
  const invalid = (reason: string) => ({ valid: false, reason });
  const payload = decodeInviteToken(token);
  if (!payload) return invalid('malformed');
  if (verifyHexSignature(canonicalInvite(payload), payload.signature, payload.owner_pubkey) !== 'ok') return invalid('bad_signature');
  const invite = ctx.db.invites.find((i) => i.token === token);
  if (!invite) return invalid('not_found');
  if (invite.revoked) return invalid('revoked');
  const mesh = ctx.db.meshes.get(invite.meshId);
  if (!mesh) return invalid('mesh_archived');
  if (invite.expiresAt * 1000 < Date.now()) return invalid('expired');
  if (isExhausted(invite)) return invalid('exhausted');
  return {
    valid: true,
    meshName: mesh.name,
    meshSlug: mesh.slug,
    inviterName: 'owner',
    memberCount: ctx.db.members.filter((m) => m.meshId === mesh.meshId && !m.revoked).length,
    role: invite.role,
    expiresAt: new Date(invite.expiresAt * 1000).toISOString(),
    maxUses: invite.maxUses,
    usedCount: invite.usedCount,
    token,
  };
}
