/**
 * A demo mesh on 127.0.0.1: the in-process broker from test/support, one mesh, the demo user's identity written as a
 * claudemesh CLI config, and demo peers (src/broker `MeshClient`s) that answer, publish and change status.
 * Used by `npm run demo`, `npm start` and the end-to-end tests.
 */
import * as fs from 'fs';
import * as path from 'path';
import { generateKeypair, MemoryStore, MeshClient, writeJoinedMesh } from '../src/broker';
import type { JoinedMesh } from '../src/broker';
import { startLocalBroker } from '../test/support/localBroker';
import type { LocalBroker, MeshRecord } from '../test/support/localBroker';
import { DEMO_PEERS, DemoPeerBehaviour } from './peers';

export const DEMO_USER_NAME = 'Demo User';

export interface DemoMeshOptions {
  /** Folder for the demo user's claudemesh config (`<configDir>/config.json`); created if missing. */
  configDir: string;
  /** Broker port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  peers?: readonly DemoPeerBehaviour[];
  log?: (line: string) => void;
}

export interface DemoPeer {
  name: string;
  client: MeshClient;
}

export interface DemoMesh {
  broker: LocalBroker;
  mesh: MeshRecord;
  /** The demo user's claudemesh config: point `claudemesh.configPath` (or CLAUDEMESH_CONFIG_DIR) at it. */
  configPath: string;
  user: JoinedMesh;
  peers: DemoPeer[];
  /** Simulates a broker outage: every connection drops, the port stops listening; the mesh's data is kept. */
  stopBroker(): Promise<void>;
  /** Brings the broker back on the same port; clients reconnect by themselves. */
  startBroker(): Promise<void>;
  readonly brokerRunning: boolean;
  /** Resolves once every demo peer is connected. */
  whenPeersConnected(): Promise<void>;
  /** Stops the peers and the broker for good. */
  stop(): Promise<void>;
}

export async function startDemoMesh(options: DemoMeshOptions): Promise<DemoMesh> {
  const log = options.log ?? (() => undefined);
  const broker = await startLocalBroker({ port: options.port ?? 0 });
  const mesh = broker.addMesh({ slug: 'demo', name: 'Demo mesh' });
  const joinedAt = new Date().toISOString();
  const join = (name: string): JoinedMesh => {
    const key = generateKeypair();
    const member = broker.addMember(mesh.meshId, { pubkey: key.pubkey, displayName: name });
    return { meshId: mesh.meshId, memberId: member.memberId, slug: mesh.slug, name: mesh.name, pubkey: key.pubkey, secretKey: key.secretKey, brokerUrl: broker.url, joinedAt };
  };

  const user = join(DEMO_USER_NAME);
  const configPath = path.join(options.configDir, 'config.json');
  try {
    await writeDemoConfig(configPath, user);
  } catch (err) {
    await broker.close();
    throw new Error(`Could not write the demo identity to ${configPath}: ${(err as Error).message}`, { cause: err });
  }

  const stops: (() => void)[] = [];
  const peers = (options.peers ?? DEMO_PEERS).map((behaviour): DemoPeer => {
    const client = new MeshClient({
      mesh: join(behaviour.name),
      store: new MemoryStore(),
      sessionKey: generateKeypair(),
      sessionId: `demo-${behaviour.name.toLowerCase()}`,
      displayName: behaviour.name,
      cwd: options.configDir,
      ...behaviour.hello,
      channel: 'demo',
      peerType: 'bot',
      // Back within a couple of seconds of a broker restart, so a DM queued meanwhile finds its recipient.
      timing: { backoffMaxMs: 2_000 },
    });
    stops.push(behaviour.start(client, log));
    client.connect();
    return { name: behaviour.name, client };
  });

  let running = true;
  return {
    broker,
    mesh,
    configPath,
    user,
    peers,
    get brokerRunning() {
      return running;
    },
    async stopBroker() {
      await broker.stop();
      running = false;
    },
    async startBroker() {
      await broker.start();
      running = true;
    },
    whenPeersConnected: () => Promise.all(peers.map((p) => whenConnected(p.client))).then(() => undefined),
    async stop() {
      for (const stopBehaviour of stops) stopBehaviour();
      await Promise.all(peers.map((p) => p.client.dispose()));
      await broker.close();
      running = false;
    },
  };
}

/** A fresh config holding only the demo identity; the demo user's name goes in the top-level displayName. */
async function writeDemoConfig(configPath: string, user: JoinedMesh): Promise<void> {
  await fs.promises.mkdir(path.dirname(configPath), { recursive: true, mode: 0o700 });
  await fs.promises.writeFile(configPath, JSON.stringify({ version: 1, displayName: DEMO_USER_NAME, meshes: [] }) + '\n', { mode: 0o600 });
  await writeJoinedMesh(configPath, user);
}

function whenConnected(client: MeshClient): Promise<void> {
  if (client.state.kind === 'connected') return Promise.resolve();
  return new Promise((resolve) => {
    const subscription = client.onDidChangeState((state) => {
      if (state.kind !== 'connected') return;
      subscription.dispose();
      resolve();
    });
  });
}
