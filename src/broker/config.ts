/**
 * Reads and writes the claudemesh CLI config (docs/protocol.md §2): `~/.claudemesh/config.json`, or
 * `$CLAUDEMESH_CONFIG_DIR/config.json` when that directory exists.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import nacl from 'tweetnacl';
import { bytesToHex, hexToBytes } from './crypto';
import { BASE62_ID, PUBLIC_KEY, SECRET_KEY } from './keys';
import type { JoinedMesh } from './types';


const JOIN_HINT = 'Join a mesh with `claudemesh join <invite>` or the "Claudemesh: Join Mesh from Invite Link" command.';

export interface ConfigLoadResult {
  path: string;
  exists: boolean;
  meshes: JoinedMesh[];
  displayName?: string;
  problems: string[];
}

export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env, home: string = os.homedir()): string {
  const overrideDir = env.CLAUDEMESH_CONFIG_DIR;
  if (overrideDir && isDirectory(overrideDir)) return path.join(overrideDir, 'config.json');
  return path.join(home, '.claudemesh', 'config.json');
}

function isDirectory(dir: string): boolean {
  try {
    return fs.statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

/** `~/…` reads better in a message than the full home path. */
function shownPath(filePath: string): string {
  const home = os.homedir();
  return filePath.startsWith(home + path.sep) ? '~' + filePath.slice(home.length) : filePath;
}

/**
 * What a config value is, for a message: its type and length, never the value itself. Any field can hold key material
 * (a pasted secret in the wrong place, a whole entry that is the bare secret string), and a problem goes to a toast and
 * the log, so no field is quoted.
 */
function shape(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return value === '' ? 'an empty string' : `a string of ${value.length} characters`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

/** Why `value` cannot be a broker WebSocket URL (ws:// or wss://, path exactly /ws), or undefined when it can. */
export function brokerUrlProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return `must be a ws:// or wss:// URL (got ${shape(value)})`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `must be a ws:// or wss:// URL (got ${shape(value)})`;
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') return `must start with ws:// or wss:// (got ${['http:', 'https:', 'file:'].includes(url.protocol) ? `a URL starting ${url.protocol}//` : 'another scheme'})`;
  // The broker destroys any upgrade whose path is not exactly /ws, query strings included (docs/protocol.md §1).
  if (value.includes('?') || value.includes('#')) return 'must not have a query string or #fragment';
  if (url.pathname !== '/ws') return `must end in exactly "/ws" (its path has ${url.pathname.length} characters)`;
  return undefined;
}

/** Checks one `meshes[]` entry; `where` prefixes every problem, e.g. `~/.claudemesh/config.json: meshes[1]`. */
export function validateJoinedMesh(value: unknown, where: string): { mesh?: JoinedMesh; problems: string[] } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { problems: [`${where} must be an object describing a joined mesh (got ${shape(value)}).`] };
  }
  const entry = value as Record<string, unknown>;
  const problems: string[] = [];
  const problem = (field: string, text: string) => problems.push(`${where}.${field} ${text}.`);

  for (const field of ['meshId', 'memberId'] as const) {
    if (typeof entry[field] !== 'string' || !BASE62_ID.test(entry[field])) {
      problem(field, `must be a 32-character base62 id (got ${shape(entry[field])})`);
    }
  }
  for (const field of ['slug', 'name'] as const) {
    if (typeof entry[field] !== 'string' || entry[field].trim() === '') problem(field, `must be a non-empty string (got ${shape(entry[field])})`);
  }
  const pubkeyOk = typeof entry.pubkey === 'string' && PUBLIC_KEY.test(entry.pubkey);
  if (!pubkeyOk) problem('pubkey', `must be 64 lowercase hex characters (got ${shape(entry.pubkey)})`);

  // Never echo the secret key itself: describe its shape only.
  const secretKey = entry.secretKey;
  if (typeof secretKey !== 'string') {
    problem('secretKey', `must be a string of 128 lowercase hex characters (got ${shape(secretKey)})`);
  } else if (!SECRET_KEY.test(secretKey)) {
    problem('secretKey', `must be 128 lowercase hex characters (got ${shape(secretKey)}${/[^0-9a-f]/.test(secretKey) ? ', not all lowercase hex' : ''})`);
  } else if (pubkeyOk) {
    if (secretKey.slice(64) !== entry.pubkey) {
      problem('secretKey', 'does not belong to pubkey (its second half must equal pubkey)');
    } else if (bytesToHex(nacl.sign.keyPair.fromSeed(hexToBytes(secretKey.slice(0, 64))).publicKey) !== entry.pubkey) {
      problem('secretKey', 'does not belong to pubkey (its seed derives a different public key)');
    }
  }

  const urlProblem = brokerUrlProblem(entry.brokerUrl);
  if (urlProblem) problem('brokerUrl', urlProblem);
  if (typeof entry.joinedAt !== 'string') problem('joinedAt', `must be a date string (got ${shape(entry.joinedAt)})`);
  if (entry.rootKey !== undefined && typeof entry.rootKey !== 'string') problem('rootKey', `must be a string when present (got ${shape(entry.rootKey)})`);
  if (entry.inviteVersion !== undefined && entry.inviteVersion !== 1 && entry.inviteVersion !== 2) {
    problem('inviteVersion', `must be 1 or 2 when present (got ${shape(entry.inviteVersion)})`);
  }
  if (problems.length > 0) return { problems };

  const mesh: JoinedMesh = {
    meshId: entry.meshId as string,
    memberId: entry.memberId as string,
    slug: entry.slug as string,
    name: entry.name as string,
    pubkey: entry.pubkey as string,
    secretKey: secretKey as string,
    brokerUrl: entry.brokerUrl as string,
    joinedAt: entry.joinedAt as string,
  };
  if (entry.rootKey !== undefined) mesh.rootKey = entry.rootKey as string;
  if (entry.inviteVersion !== undefined) mesh.inviteVersion = entry.inviteVersion as 1 | 2;
  return { mesh, problems: [] };
}

/**
 * V8 quotes part of the input in parse errors (the unexpected token, a snippet); that input holds secret keys, so keep
 * only the words before the first quote, and the place.
 */
function jsonErrorWithoutSnippet(error: unknown, text: string): string {
  const full = error instanceof Error ? error.message : String(error);
  const reason = full.split(/['"`]/)[0].replace(/[\s,]+$/, '') || 'Unexpected content';
  const position = /at position (\d+)/.exec(full);
  if (!position) return reason;
  const before = text.slice(0, Number(position[1])).split('\n');
  return `${reason.replace(/ at position \d+.*$/, '')} (line ${before.length}, column ${before[before.length - 1].length + 1})`;
}

/** Never throws: every problem becomes one sentence in `problems`, and good meshes are still returned. */
export function loadConfig(filePath: string = defaultConfigPath()): ConfigLoadResult {
  const shown = shownPath(filePath);
  const result: ConfigLoadResult = { path: filePath, exists: false, meshes: [], problems: [] };

  let text: string;
  try {
    text = fs.readFileSync(filePath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      result.problems.push(`${shown} does not exist yet, so no mesh is joined. ${JOIN_HINT}`);
    } else {
      result.exists = true;
      result.problems.push(`${shown} could not be read (${code ?? (error as Error).message}).`);
    }
    return result;
  }
  result.exists = true;

  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (error) {
    result.problems.push(`${shown} is not valid JSON: ${jsonErrorWithoutSnippet(error, text)}.`);
    return result;
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    result.problems.push(`${shown} must contain a JSON object with a "meshes" array (got ${shape(config)}).`);
    return result;
  }

  const top = config as Record<string, unknown>;
  if (typeof top.displayName === 'string' && top.displayName.trim() !== '') {
    result.displayName = top.displayName;
  } else if (top.displayName !== undefined) {
    result.problems.push(`${shown}: displayName must be a non-empty string when present (got ${shape(top.displayName)}).`);
  }
  if (!Array.isArray(top.meshes)) {
    result.problems.push(`${shown}: meshes must be an array of joined meshes (got ${shape(top.meshes)}). ${JOIN_HINT}`);
    return result;
  }

  const firstIndexOf = new Map<string, number>();
  top.meshes.forEach((entry: unknown, index: number) => {
    const where = `${shown}: meshes[${index}]`;
    const { mesh, problems } = validateJoinedMesh(entry, where);
    result.problems.push(...problems);
    if (!mesh) return;
    const first = firstIndexOf.get(mesh.meshId);
    if (first !== undefined) {
      result.problems.push(`${where}.meshId repeats meshes[${first}]; only the first entry is used.`);
      return;
    }
    firstIndexOf.set(mesh.meshId, index);
    result.meshes.push(mesh);
  });
  return result;
}

/** What the CLI writes before its first join: no mesh yet. */
function emptyConfig(): Record<string, unknown> {
  return { version: 1, meshes: [] };
}

/** The config's folder holds secret keys: 0700, like the CLI makes it. */
async function makeConfigDir(filePath: string): Promise<void> {
  const dir = path.dirname(filePath);
  await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
  if (process.platform !== 'win32') await fs.promises.chmod(dir, 0o700);
}

/**
 * Writes a config with no mesh (`{version: 1, meshes: []}`, mode 0600, in a 0700 folder) where none exists yet, so
 * `claudemesh join` or a hand edit has a file to fill. Never replaces a file: answers false when one is already there.
 */
export async function createEmptyConfig(filePath: string): Promise<boolean> {
  await makeConfigDir(filePath);
  try {
    await fs.promises.writeFile(filePath, JSON.stringify(emptyConfig(), null, 2) + '\n', { mode: 0o600, flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/**
 * Adds or replaces (by meshId) one mesh, the way the CLI writes its config: a 0600 temp file renamed
 * over the old one, inside a 0700 directory, keeping every other top-level key.
 */
export async function writeJoinedMesh(filePath: string, mesh: JoinedMesh): Promise<void> {
  const { problems } = validateJoinedMesh(mesh, 'the mesh to save');
  if (problems.length > 0) throw new Error(`Refusing to write ${shownPath(filePath)}: ${problems.join(' ')}`);

  await makeConfigDir(filePath);
  let config: Record<string, unknown> = emptyConfig();
  let text: string | undefined;
  try {
    text = await fs.promises.readFile(filePath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (text !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      // Overwriting would lose the other meshes' keys; make the user look at the file instead. The parse error is not
      // passed on as a cause: V8 quotes the file in it, and the file holds secret keys.
      // eslint-disable-next-line preserve-caught-error
      throw new Error(`Refusing to overwrite ${shownPath(filePath)}: it is not valid JSON (${jsonErrorWithoutSnippet(error, text)}). Fix or move it, then join again.`);
    }
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) config = { version: 1, ...(parsed as Record<string, unknown>) };
  }
  const others = Array.isArray(config.meshes) ? (config.meshes as unknown[]).filter((entry) => (entry as { meshId?: unknown } | null)?.meshId !== mesh.meshId) : [];
  config.meshes = [...others, mesh];

  const temporary = `${filePath}.tmp`;
  // A stale temp file would keep its old mode; start fresh so 0600 applies.
  await fs.promises.rm(temporary, { force: true });
  await fs.promises.writeFile(temporary, JSON.stringify(config, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  await fs.promises.rename(temporary, filePath);
}
