/**
 * What the demo peers do. Each one is a plain `MeshClient` from src/broker, so the demo exercises the same client the
 * extension runs; only the behaviour (how a peer reacts and what it publishes) lives here.
 */
import type { MeshClient, MeshClientOptions } from '../src/broker';
import { MALLORY } from '../test/support/mallory';

export interface DemoPeerBehaviour {
  name: string;
  /** Shown in the Peers view as the peer's summary, so the demo explains itself. */
  summary: string;
  /** Hello fields of its own (host name, folder, groups), if any. */
  hello?: Pick<MeshClientOptions, 'hostname' | 'cwd' | 'groups'>;
  /** Starts the behaviour on a client that was just created (not yet connected); returns how to stop it. */
  start(client: MeshClient, log: (line: string) => void): () => void;
}

/** Periodic work runs this often; slow enough to read, fast enough to see the views change. */
const TICK_MS = 15_000;

/**
 * Runs `onConnect` whenever the client (re)connects, since a broker restart loses what a peer had published about
 * itself, and `tick` every TICK_MS while connected. Returns how to stop both.
 */
function drive(client: MeshClient, log: (line: string) => void, onConnect: () => Promise<void>, tick?: () => Promise<void>): () => void {
  const report = (err: Error) => log(`${client.displayName}: ${err.message}`);
  const subscription = client.onDidChangeState((state) => {
    if (state.kind === 'connected') onConnect().catch(report);
  });
  const timer =
    tick &&
    setInterval(() => {
      if (client.state.kind === 'connected') tick().catch(report);
    }, TICK_MS);
  return () => {
    subscription.dispose();
    clearInterval(timer);
  };
}

/** Ada answers every direct message with a reply that quotes it. */
export const answeringPeer: DemoPeerBehaviour = {
  name: 'Ada',
  summary: 'Answers every direct message',
  start(client, log) {
    const stopSummary = drive(client, log, () => client.setSummary(answeringPeer.summary));
    const subscription = client.onDidReceiveMessage((message) => {
      if (message.kind !== 'direct' || message.text === null) return;
      const sender = client.peers.find((p) => p.pubkey === message.senderPubkey)?.displayName ?? message.senderPubkey.slice(0, 8);
      client
        .send(message.senderPubkey, `Ada here. You said: "${message.text}"`, { label: sender })
        .then(() => log(`Ada answered ${sender}`))
        .catch((err: Error) => log(`Ada could not answer ${sender}: ${err.message}`));
    });
    return () => {
      stopSummary();
      subscription.dispose();
    };
  },
};

/** Grace keeps a build status in shared state, shares a skill and remembers a fact for the whole mesh. */
export const publishingPeer: DemoPeerBehaviour = {
  name: 'Grace',
  summary: 'Publishes the build status, a skill and a memory',
  start(client, log) {
    let run = 0;
    const publishBuild = async () => {
      run++;
      await client.setState('build', { status: run % 2 === 0 ? 'passing' : 'running', run, by: 'Grace' });
    };
    return drive(
      client,
      log,
      async () => {
        await client.setSummary(publishingPeer.summary);
        await publishBuild();
        await client.setState('release', { version: '0.1.0', frozen: false });
        await client.shareSkill({
          name: 'review-checklist',
          description: 'What to check before approving a change',
          instructions: '1. Tests name the behaviour they check.\n2. Errors say what to do next.\n3. No secrets in logs.',
          tags: ['review', 'demo'],
        });
        if ((await client.recall('demo mesh')).length === 0) {
          await client.remember('The demo mesh runs on 127.0.0.1 and forgets everything when it stops.', ['demo']);
        }
        log('Grace published the build status, the review-checklist skill and a memory');
      },
      publishBuild,
    );
  },
};

/** Linus alternates between working and idle, with a summary that says on what. */
export const busyPeer: DemoPeerBehaviour = {
  name: 'Linus',
  summary: 'Goes working and idle in turn',
  start(client, log) {
    let working = true;
    const announce = async () => {
      await client.setStatus(working ? 'working' : 'idle');
      await client.setSummary(working ? 'Working: refactoring the frame parser' : 'Idle: waiting for review');
    };
    // A (re)connect announces the current state and only the tick flips it: going idle makes the client reattach
    // quietly (a drain trigger), and a flip on every connect would flip him straight back to working.
    return drive(client, log, announce, async () => {
      working = !working;
      await announce();
    });
  },
};

export const DEMO_PEERS: readonly DemoPeerBehaviour[] = [answeringPeer, publishingPeer, busyPeer];

/**
 * Mallory (test/support/mallory.ts), only with `npm run demo -- --hostile` and in the hostile e2e phase: a name,
 * summary, profile, groups, host and folder, skill, memory and shared state that try to act in the editor, and a
 * hostile answer to every direct message.
 */
export const hostilePeer: DemoPeerBehaviour = {
  name: MALLORY.name,
  summary: MALLORY.summary,
  hello: { hostname: MALLORY.hostname, cwd: MALLORY.cwd, groups: MALLORY.groups },
  start(client, log) {
    const stopPublishing = drive(client, log, async () => {
      await client.setSummary(MALLORY.summary);
      await client.setProfile(MALLORY.profile);
      await client.shareSkill(MALLORY.skill);
      for (const [key, value] of Object.entries(MALLORY.state)) await client.setState(key, value);
      if ((await client.recall('memory')).length === 0) await client.remember(MALLORY.memory.content, MALLORY.memory.tags);
      log('Mallory published her summary, profile, skill, state and memory');
    });
    const subscription = client.onDidReceiveMessage((message) => {
      if (message.kind !== 'direct') return;
      client.send(message.senderPubkey, MALLORY.message).catch((err: Error) => log(`Mallory could not answer: ${err.message}`));
    });
    return () => {
      stopPublishing();
      subscription.dispose();
    };
  },
};
