/**
 * The local broker's "database": everything that survives a simulated broker restart (meshes, members, queue rows,
 * shared state, memories, skills, invites, saved peer state). Live presences are not here; they live in BrokerContext.
 */
import type { PeerGroup, PeerProfile, Priority } from '../../../src/broker/types';
import { randomBase62 } from './primitives';

export interface MeshRow {
  meshId: string;
  slug: string;
  name: string;
  ownerPubkey: string;
  ownerSecretKey: string;
  /** base64url, carried in invites as `mesh_root_key`. */
  rootKey: string;
}

export interface MemberRow {
  meshId: string;
  memberId: string;
  pubkey: string;
  displayName: string;
  /** The member's default groups (hello_ack `memberProfile.groups`). */
  groups: PeerGroup[];
  revoked: boolean;
  role: 'admin' | 'member';
  roleTag: string | null;
  messageMode: string;
}

export interface QueueRow {
  id: string;
  meshId: string;
  senderMemberId: string;
  senderPubkey: string;
  targetSpec: string;
  priority: Priority;
  nonce: string;
  ciphertext: string;
  createdAt: Date;
  clientMessageId: string | null;
  requestFingerprint: string | null;
  deliveredAt: Date | null;
  /** Epoch ms until which a drain's claim holds the row; null = claimable. */
  leaseUntil: number | null;
}

export interface StateRow {
  key: string;
  value: unknown;
  updatedBy: string;
  updatedAt: Date;
}

export interface MemoryRow {
  id: string;
  meshId: string;
  content: string;
  tags: string[];
  rememberedBy: string;
  rememberedAt: Date;
  forgotten: boolean;
}

export interface SkillRow {
  name: string;
  description: string;
  instructions: string;
  tags: string[];
  author: string;
  manifest: unknown;
  createdAt: Date;
}

export interface InviteRow {
  token: string;
  code: string;
  meshId: string;
  role: 'admin' | 'member';
  /** Unix seconds. */
  expiresAt: number;
  /** null = unlimited. */
  maxUses: number | null;
  usedCount: number;
  revoked: boolean;
}

export interface SessionStats {
  messagesIn: number;
  messagesOut: number;
  toolCalls: number;
  errors: number;
}

/** Per (mesh, member), written on every connection close; last closer wins (§10, "One member, many connections"). */
export interface PeerStateRow {
  groups: PeerGroup[];
  profile: PeerProfile;
  visible: boolean;
  lastSummary: string | null;
  lastSeenAt: Date;
  cumulativeStats: SessionStats;
}

export class BrokerDatabase {
  readonly meshes = new Map<string, MeshRow>();
  readonly members: MemberRow[] = [];
  readonly queue: QueueRow[] = [];
  readonly memories: MemoryRow[] = [];
  readonly invites: InviteRow[] = [];
  private readonly stateByMesh = new Map<string, Map<string, StateRow>>();
  private readonly skillsByMesh = new Map<string, Map<string, SkillRow>>();
  private readonly peerStates = new Map<string, PeerStateRow>();

  /** The non-revoked member with exactly this pubkey (the broker's lookup is exact-match). */
  liveMember(meshId: string, pubkey: string): MemberRow | undefined {
    return this.members.find((m) => m.meshId === meshId && m.pubkey === pubkey && !m.revoked);
  }

  revokedMember(meshId: string, pubkey: string): MemberRow | undefined {
    return this.members.find((m) => m.meshId === meshId && m.pubkey === pubkey && m.revoked);
  }

  memberById(memberId: string): MemberRow | undefined {
    return this.members.find((m) => m.memberId === memberId);
  }

  meshState(meshId: string): Map<string, StateRow> {
    let state = this.stateByMesh.get(meshId);
    if (!state) this.stateByMesh.set(meshId, (state = new Map()));
    return state;
  }

  meshSkills(meshId: string): Map<string, SkillRow> {
    let skills = this.skillsByMesh.get(meshId);
    if (!skills) this.skillsByMesh.set(meshId, (skills = new Map()));
    return skills;
  }

  peerState(meshId: string, memberId: string): PeerStateRow | undefined {
    return this.peerStates.get(`${meshId}/${memberId}`);
  }

  savePeerState(meshId: string, memberId: string, row: PeerStateRow): void {
    this.peerStates.set(`${meshId}/${memberId}`, row);
  }

  insertMemory(meshId: string, content: string, tags: string[], rememberedBy: string): MemoryRow {
    const row: MemoryRow = { id: randomBase62(32), meshId, content, tags, rememberedBy, rememberedAt: new Date(), forgotten: false };
    this.memories.push(row);
    return row;
  }

  /**
   * Stand-in for Postgres `plainto_tsquery('english', q)` @@ `to_tsvector('english', content)` ranked by ts_rank:
   * every non-stopword query term must occur in the content (tags are not searched), more occurrences rank higher.
   */
  recall(meshId: string, query: string, limit = 20): MemoryRow[] {
    const terms = [...new Set(searchTerms(query))];
    if (terms.length === 0) return [];
    const ranked: { row: MemoryRow; score: number }[] = [];
    for (const row of this.memories) {
      if (row.meshId !== meshId || row.forgotten) continue;
      const words = searchTerms(row.content);
      const counts = terms.map((term) => words.filter((w) => w === term).length);
      if (counts.some((n) => n === 0)) continue;
      ranked.push({ row, score: counts.reduce((a, b) => a + b, 0) / words.length });
    }
    ranked.sort((a, b) => b.score - a.score || b.row.rememberedAt.getTime() - a.row.rememberedAt.getTime());
    return ranked.slice(0, limit).map((r) => r.row);
  }
}

/** Postgres' English stopword list (snowball), which `plainto_tsquery('english', …)` drops. */
const STOPWORDS = new Set(
  (
    'i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers herself ' +
    'it its itself they them their theirs themselves what which who whom this that these those am is are was were be ' +
    'been being have has had having do does did doing a an the and but if or because as until while of at by for with ' +
    'about against between into through during before after above below to from up down in out on off over under again ' +
    'further then once here there when where why how all any both each few more most other some such no nor not only ' +
    'own same so than too very s t can will just don should now'
  ).split(' '),
);

/** Lowercased words minus stopwords, with a light English stemmer so "deploys"/"deploying" match "deploy". */
function searchTerms(text: string): string[] {
  return (text.toLowerCase().match(/[a-z0-9]+/g) ?? []).filter((w) => !STOPWORDS.has(w)).map(stem);
}

function stem(word: string): string {
  for (const suffix of ['ing', 'ed', 'es', 's']) {
    if (word.endsWith(suffix) && word.length - suffix.length >= 3) return word.slice(0, -suffix.length);
  }
  return word;
}
