/** Builds a local broker with a mesh and members, and MeshClients for them, and tears all of it down. */
import { MeshClient, MeshClientOptions } from '../../src/broker/client';
import { generateKeypair } from '../../src/broker/crypto';
import { MemoryStore } from '../../src/broker/store';
import type { ConnectionState, JoinedMesh } from '../../src/broker/types';
import { LocalBroker, LocalBrokerOptions, MeshRecord, startLocalBroker } from './localBroker';

export const FAST_TIMING = { backoffBaseMs: 20, backoffMaxMs: 200, rpcTimeoutMs: 5_000, helloTimeoutMs: 5_000 };

export interface Member {
  name: string;
  mesh: JoinedMesh;
  sessionKey: { pubkey: string; secretKey: string };
}

export class MeshFixture {
  readonly clients: MeshClient[] = [];
  private constructor(readonly broker: LocalBroker, readonly meshRecord: MeshRecord) {}

  static async start(opts: LocalBrokerOptions = {}): Promise<MeshFixture> {
    const broker = await startLocalBroker(opts);
    return new MeshFixture(broker, broker.addMesh({ slug: 'test-mesh' }));
  }

  /** A member of the mesh with its own session key; nothing connects yet. */
  member(name: string, groups: { name: string }[] = []): Member {
    const keys = generateKeypair();
    const record = this.broker.addMember(this.meshRecord.meshId, { pubkey: keys.pubkey, displayName: name, groups });
    const mesh: JoinedMesh = {
      meshId: this.meshRecord.meshId,
      memberId: record.memberId,
      slug: this.meshRecord.slug,
      name: this.meshRecord.name,
      pubkey: keys.pubkey,
      secretKey: keys.secretKey,
      brokerUrl: this.broker.url,
      joinedAt: new Date().toISOString(),
    };
    return { name, mesh, sessionKey: generateKeypair() };
  }

  client(member: Member, extra: Partial<MeshClientOptions> = {}): MeshClient {
    const client = new MeshClient({
      mesh: member.mesh,
      store: new MemoryStore(),
      sessionKey: member.sessionKey,
      sessionId: `${member.name}-${this.clients.length}`,
      displayName: member.name,
      cwd: '/tmp',
      timing: FAST_TIMING,
      ...extra,
    });
    this.clients.push(client);
    return client;
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.dispose()));
    await this.broker.close();
  }
}

export function waitForState(client: MeshClient, kind: ConnectionState['kind']): Promise<ConnectionState> {
  return waitUntil(() => client.state.kind === kind, `${client.mesh.slug} to be ${kind}`).then(() => client.state);
}

/** Polls a condition; the generous limit only guards against a hang, it is never the thing tested. */
export async function waitUntil(check: () => boolean, what: string, limitMs = 60_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The broker took the row: `sent`, or already confirmed `delivered` by the outbox's message_status checks. */
export function acked(row: { status: string }): boolean {
  return row.status === 'sent' || row.status === 'delivered';
}
