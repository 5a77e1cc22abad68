/**
 * A bare WebSocket server for the figures that need exact control of what the client receives: it answers
 * session_hello with hello_ack, list_peers with a fixed peer list and send with an ack, records client_acks, and writes whatever
 * frames the benchmark hands it. Bound to 127.0.0.1 on an ephemeral port.
 */
import { randomBytes } from 'crypto';
import type { AddressInfo } from 'net';
import WebSocket, { WebSocketServer } from 'ws';
import { generateKeypair } from '../src/broker/crypto';
import type { JoinedMesh, Peer } from '../src/broker/types';

export const BENCH_MESH_ID = 'BenchMeshBenchMeshBenchMeshBench';

/** A joined mesh with a fresh member key, for a MeshClient pointed at `brokerUrl`. */
export function benchMesh(brokerUrl: string): JoinedMesh {
  const member = generateKeypair();
  return {
    meshId: BENCH_MESH_ID,
    memberId: 'BenchMemberBenchMemberBenchMembe',
    slug: 'bench',
    name: 'bench',
    pubkey: member.pubkey,
    secretKey: member.secretKey,
    brokerUrl,
    joinedAt: new Date().toISOString(),
  };
}

export class ScriptedBroker {
  /** Sockets that completed a session_hello, in order. */
  readonly helloed: WebSocket[] = [];
  clientAcks = 0;
  /** Called on every client_ack, after the count is updated. */
  onClientAck: (() => void) | undefined;
  peers: Peer[] = [];

  private constructor(private readonly server: WebSocketServer) {
    server.on('connection', (ws) => {
      ws.on('message', (data) => this.onMessage(ws, data.toString()));
      ws.on('error', () => undefined);
    });
  }

  /** `port` 0 picks a free one; a given port brings a stopped broker back where its clients look for it. */
  static async start(port = 0): Promise<ScriptedBroker> {
    const server = new WebSocketServer({ host: '127.0.0.1', port, path: '/ws' });
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    return new ScriptedBroker(server);
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}/ws`;
  }

  private onMessage(ws: WebSocket, text: string): void {
    const frame = JSON.parse(text) as Record<string, unknown>;
    switch (frame.type) {
      case 'session_hello':
        this.helloed.push(ws);
        ws.send(JSON.stringify({ type: 'hello_ack', presenceId: `presence-${this.helloed.length}`, memberDisplayName: String(frame.displayName ?? '') }));
        return;
      case 'list_peers':
        ws.send(JSON.stringify({ type: 'peers_list', peers: this.peers, _reqId: frame._reqId }));
        return;
      case 'send':
        // Accepted at once, as the broker acks a send it has queued (docs/protocol.md §3).
        ws.send(JSON.stringify({ type: 'ack', id: frame.id, messageId: randomBytes(16).toString('hex'), queued: true }));
        return;
      case 'client_ack':
        this.clientAcks++;
        this.onClientAck?.();
        return;
    }
  }

  async close(): Promise<void> {
    for (const ws of this.server.clients) ws.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
