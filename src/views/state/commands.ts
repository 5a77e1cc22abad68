/** The commands of the mesh's shared key/value state: set, edit, open as JSON, copy a value, refresh. */
import * as vscode from 'vscode';
import type { MeshClientApi, StateEntry } from '../../broker/types';
import type { App, MeshHandler } from '../app';
import { docUri, showDocument } from '../shared/documents';
import { say, showInfo } from '../shared/notify';
import { inline } from '../shared/untrusted';
import { StateNode } from './tree';

/**
 * What the user typed as a shared-state value: JSON when it parses (42, true, {"a": 1}, "quoted"), else the text
 * itself, so "Friday 14:00" is stored as that string.
 */
export function parseStateValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** How a value is shown for editing, so that saving it unchanged stores the same value. */
export function stateValueText(value: unknown): string {
  // A string that would parse as something else ("42", "true", "[1]") keeps its quotes.
  return typeof value === 'string' && typeof parseStateValue(value) === 'string' ? value : JSON.stringify(value);
}

/** Why `text` cannot be a shared-state value, or undefined when it can. */
export function stateValueProblem(text: string): string | undefined {
  if (!text.trim()) return 'Type a value: text, or JSON such as 42, true or {"a": 1}.';
  return parseStateValue(text) === null ? 'The mesh cannot store null; use another value.' : undefined;
}

async function editState(client: MeshClientApi, key: string | undefined, current?: StateEntry): Promise<void> {
  const finalKey =
    key ??
    (await vscode.window.showInputBox({
      title: 'Set State: key',
      prompt: `A key in ${inline(client.mesh.slug)}'s shared state`,
      ignoreFocusOut: true,
      validateInput: (k) => (k.trim() ? undefined : 'The key cannot be empty.'),
    }));
  if (!finalKey) return;
  const value = await vscode.window.showInputBox({
    title: `Set State: ${inline(finalKey)}`,
    prompt: 'The value: text, or JSON such as 42, true or {"a": 1} (quote text that looks like JSON: "42")',
    value: current ? stateValueText(current.value) : '',
    ignoreFocusOut: true,
    validateInput: stateValueProblem,
  });
  if (value === undefined) return;
  await client.setState(finalKey.trim(), parseStateValue(value));
}

async function stateNodeOrPick(app: App, client: MeshClientApi, arg: unknown, title: string): Promise<StateNode | undefined> {
  if (arg instanceof StateNode) return arg;
  const entries = [...((await app.state.cache.get(client))?.values() ?? [])];
  if (entries.length === 0) {
    void showInfo(say`Claudemesh: ${client.mesh.slug} has no shared state yet.`);
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    entries.map((e) => ({ label: inline(e.key), description: inline(e.value, 80), e })),
    { title },
  );
  return picked && new StateNode(client.mesh.meshId, picked.e);
}

export async function openStateJson(app: App, client: MeshClientApi, arg: unknown): Promise<void> {
  const node = await stateNodeOrPick(app, client, arg, 'Get State');
  if (!node) return;
  const uri = docUri({ kind: 'state', meshId: node.meshId, key: node.entry.key }, node.entry.key);
  app.documents.refresh(uri);
  await showDocument(uri);
}

export const setState: MeshHandler = (_app, client) => editState(client, undefined);

export const editStateEntry: MeshHandler = async (app, client, arg) => {
  const node = await stateNodeOrPick(app, client, arg, 'Edit State');
  if (node) await editState(client, node.entry.key, node.entry);
};

export const copyStateValue: MeshHandler = async (app, client, arg) => {
  const node = await stateNodeOrPick(app, client, arg, 'Copy Value');
  if (!node) return;
  await vscode.env.clipboard.writeText(typeof node.entry.value === 'string' ? node.entry.value : JSON.stringify(node.entry.value, null, 2));
  // The status bar renders $(icons): the key goes through the untrusted-text rule.
  vscode.window.setStatusBarMessage(`Copied the value of ${inline(node.entry.key, 60)}`, 3000);
};

export const refreshState: MeshHandler = async (app, client) => {
  await app.state.reload(client);
  app.documents.refreshOpened(client.mesh.meshId, (ref) => ref.kind === 'state');
};
