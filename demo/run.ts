/**
 * `npm run demo`: runs the demo mesh until SIGINT/SIGTERM.
 *
 *   node out/demo/run.js [--dir <folder>] [--port <broker port>] [--control-port <port>] [--hostile]
 *
 * <folder> defaults to <tmp>/claudemesh-demo. Writes the demo user's claudemesh config to <folder>/config.json and, once every demo peer is connected,
 * <folder>/demo.json (broker URL, control URL, config path, peer names) for scripts and tests to read.
 * --hostile adds Mallory, a peer whose every word tries to act in the editor (demo/peers.ts), for the hostile e2e phase.
 * A control endpoint on 127.0.0.1 lets tests simulate a broker outage:
 *   POST /broker/stop   POST /broker/start   GET /status
 */
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import { DemoMesh, startDemoMesh } from './mesh';
import { DEMO_PEERS, hostilePeer } from './peers';

const USAGE = 'Usage: node out/demo/run.js [--dir <folder>] [--port <broker port>] [--control-port <port>] [--hostile]';

class UsageError extends Error {}

interface Args {
  dir: string;
  port: number;
  controlPort: number;
  hostile: boolean;
}

function parseArgs(argv: string[]): Args {
  const values = new Map<string, string>();
  const hostile = argv.includes('--hostile');
  argv = argv.filter((a) => a !== '--hostile');
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (!['--dir', '--port', '--control-port'].includes(flag)) throw new UsageError(`Unknown argument "${flag}".`);
    if (value === undefined || value.startsWith('--')) throw new UsageError(`${flag} needs a value.`);
    values.set(flag, value);
  }
  const dir = values.get('--dir') ?? path.join(os.tmpdir(), 'claudemesh-demo');
  const port = (flag: string): number => {
    const text = values.get(flag) ?? '0';
    const n = Number(text);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`${flag} must be a port number from 0 to 65535 (got "${text}").`);
    return n;
  };
  return { dir: path.resolve(dir), port: port('--port'), controlPort: port('--control-port'), hostile };
}

function log(line: string): void {
  console.log(`[demo ${new Date().toISOString().slice(11, 19)}] ${line}`);
}

/** Serves the control routes; every answer is JSON with the broker's current state. */
function startControlServer(demo: DemoMesh, port: number): Promise<http.Server> {
  const status = () => ({
    broker: demo.brokerRunning ? 'running' : 'stopped',
    brokerUrl: demo.broker.url,
    peers: demo.peers.map((p) => ({ name: p.name, state: p.client.state.kind })),
  });
  const routes: Record<string, () => Promise<void>> = {
    'GET /status': async () => undefined,
    'POST /broker/stop': async () => {
      await demo.stopBroker();
      log('broker stopped (control request)');
    },
    'POST /broker/start': async () => {
      await demo.startBroker();
      log('broker started again (control request)');
    },
  };
  const server = http.createServer((req, res) => {
    const route = routes[`${req.method} ${req.url}`];
    const reply = (code: number, body: unknown) => {
      res.writeHead(code, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body) + '\n');
    };
    if (!route) return reply(404, { error: `No route "${req.method} ${req.url}"; try ${Object.keys(routes).join(', ')}.` });
    route().then(
      () => reply(200, status()),
      (err: Error) => reply(500, { error: err.message, ...status() }),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  fs.mkdirSync(args.dir, { recursive: true });
  const readyFile = path.join(args.dir, 'demo.json');
  fs.rmSync(readyFile, { force: true });

  const peers = args.hostile ? [...DEMO_PEERS, hostilePeer] : DEMO_PEERS;
  const demo = await startDemoMesh({ configDir: args.dir, port: args.port, peers, log });
  let control: http.Server | undefined;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping the demo peers and the broker`);
    control?.close();
    control?.closeAllConnections();
    await demo.stop();
    fs.rmSync(readyFile, { force: true });
    log('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  control = await startControlServer(demo, args.controlPort);
  const controlUrl = `http://127.0.0.1:${(control.address() as AddressInfo).port}`;
  await demo.whenPeersConnected();
  const ready = {
    brokerUrl: demo.broker.url,
    controlUrl,
    configPath: demo.configPath,
    mesh: { meshId: demo.mesh.meshId, slug: demo.mesh.slug, name: demo.mesh.name },
    peers: peers.map((p) => ({ name: p.name, summary: p.summary.slice(0, 200) })),
  };
  fs.writeFileSync(readyFile + '.tmp', JSON.stringify(ready, null, 2) + '\n');
  fs.renameSync(readyFile + '.tmp', readyFile);
  log(`demo mesh ready: broker ${ready.brokerUrl}, control ${controlUrl}, config ${demo.configPath}`);
  log(`peers: ${ready.peers.map((p) => `${p.name} (${p.summary.toLowerCase()})`).join(', ')}`);
}

main().catch((err: Error) => {
  console.error(`demo: ${err.message}`);
  if (err instanceof UsageError) console.error(USAGE);
  process.exit(2);
});
