/**
 * package.json `contributes` against what activate() actually does: the two can only drift apart silently in
 * VS Code (a menu naming a missing command just does not show), so this test is where drift fails loudly.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from '../support/fakeVscode';
import { activate, deactivate } from '../../src/extension';
import { WALKTHROUGH } from '../../src/views/walkthrough';

const root = path.resolve(__dirname, '../../..');
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const contributes = manifest.contributes;
const commandIds: string[] = contributes.commands.map((c: { command: string }) => c.command);
const viewIds: string[] = Object.values<{ id: string }[]>(contributes.views).flat().map((v) => v.id);
type MenuEntry = { command: string; when?: string; group?: string };
const menuEntries: [string, MenuEntry][] = Object.entries<MenuEntry[]>(contributes.menus).flatMap(([menu, entries]) => entries.map((e): [string, MenuEntry] => [menu, e]));

/** Every `view == x` names a view; every `view =~ /re/` matches at least one. */
function viewsNamedIn(when: string): { exact: string[]; patterns: RegExp[] } {
  const exact = [...when.matchAll(/\bview == ([\w.]+)/g)].map((m) => m[1]);
  const patterns = [...when.matchAll(/\bview =~ \/((?:[^/\\]|\\.)+)\//g)].map((m) => new RegExp(m[1]));
  return { exact, patterns };
}

function viewsWithWhen(): { id: string; when: string }[] {
  return Object.values<{ id: string; when?: string }[]>(contributes.views).flat().flatMap((v) => (v.when ? [{ id: v.id, when: v.when }] : []));
}

describe('the manifest', () => {
  let scratch: string;

  before(async () => {
    vscode.reset();
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'claudemesh-manifest-'));
    // No real ~/.claudemesh is read: the config path points at an empty scratch folder.
    await vscode.workspace.getConfiguration('claudemesh').update('configPath', path.join(scratch, 'config.json'));
    activate(vscode.makeExtensionContext(root) as never);
    // Identities load in the background; wait for the context keys that load sets.
    await vscode.until(() => vscode.contextKeys.has('claudemesh.hasIdentity'), 'the first identity load');
  });

  after(async () => {
    await deactivate();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('has every contributed command registered by activate(), and no command registered that is not contributed', () => {
    const registered = vscode.registeredCommandIds().sort();
    assert.deepEqual(registered, [...commandIds].sort());
  });

  it('gives every command a title and the category "Claudemesh"', () => {
    for (const command of contributes.commands) {
      assert.ok(typeof command.title === 'string' && command.title.trim(), `${command.command} has no title`);
      assert.equal(command.category, 'Claudemesh', `${command.command} category`);
    }
  });

  it('names only existing commands and views in its menus', () => {
    for (const [menu, entry] of menuEntries) {
      assert.ok(commandIds.includes(entry.command), `${menu}: ${entry.command} is not a contributed command`);
      const { exact, patterns } = viewsNamedIn(entry.when ?? '');
      for (const id of exact) assert.ok(viewIds.includes(id), `${menu}: ${entry.command} names view ${id}, which is not contributed`);
      for (const re of patterns) assert.ok(viewIds.some((id) => re.test(id)), `${menu}: ${entry.command}'s view pattern ${re} matches no view`);
    }
  });

  it('gives every inline action an icon, since inline actions show only their icon', () => {
    for (const [menu, entry] of menuEntries) {
      if (!entry.group?.startsWith('inline') && !(menu === 'view/title' && entry.group?.startsWith('navigation')) && menu !== 'editor/title') continue;
      const command = contributes.commands.find((c: { command: string }) => c.command === entry.command);
      assert.ok(command.icon, `${entry.command} appears as an icon in ${menu} but has none`);
    }
  });

  it('creates a tree for every contributed view, and only for contributed views', () => {
    assert.deepEqual([...vscode.treeViews.keys()].sort(), [...viewIds].sort());
  });

  it('links welcome content only to contributed commands and views', () => {
    for (const welcome of contributes.viewsWelcome) {
      assert.ok(viewIds.includes(welcome.view), `viewsWelcome names view ${welcome.view}`);
      for (const [, id] of welcome.contents.matchAll(/\(command:([\w.]+)/g)) {
        assert.ok(commandIds.includes(id) || id.startsWith('workbench.'), `viewsWelcome for ${welcome.view} links ${id}`);
      }
    }
  });

  it('gives the walkthrough steps media that exist, links to contributed commands and events that can happen', () => {
    const [walkthrough] = contributes.walkthroughs;
    assert.equal(`${manifest.publisher}.${manifest.name}#${walkthrough.id}`, WALKTHROUGH, 'the id claudemesh.openWalkthrough opens and whose steps get marked done');
    assert.deepEqual(walkthrough.steps.map((s: { id: string }) => s.id), ['join', 'peers', 'message', 'state'], 'the steps src/views/walkthrough.ts marks are there');
    for (const step of walkthrough.steps) {
      assert.ok(fs.existsSync(path.join(root, step.media.markdown)), `step ${step.id} shows ${step.media.markdown}`);
      for (const [, id] of step.description.matchAll(/\(command:([\w.]+)/g)) assert.ok(commandIds.includes(id), `step ${step.id} links ${id}`);
      for (const event of step.completionEvents as string[]) {
        const [kind, target] = event.split(':');
        if (kind === 'onCommand') assert.ok(commandIds.includes(target), `step ${step.id} completes on ${event}`);
        else if (kind === 'onView') assert.ok(viewIds.includes(target), `step ${step.id} completes on ${event}`);
        else if (kind === 'onContext') assert.ok(vscode.contextKeys.has(target), `step ${step.id} completes on ${event}, which is never set`);
        else assert.fail(`step ${step.id}: unexpected completion event ${event}`);
      }
    }
  });

  it('binds keys only to contributed commands', () => {
    for (const binding of contributes.keybindings) assert.ok(commandIds.includes(binding.command), binding.command);
  });

  it('only uses claudemesh.* context keys that activate() sets', () => {
    const whens = [
      ...menuEntries.map(([, e]) => e.when ?? ''),
      ...contributes.viewsWelcome.map((w: { when?: string }) => w.when ?? ''),
      ...viewsWithWhen().map((v) => v.when),
      ...contributes.keybindings.map((k: { when?: string }) => k.when ?? ''),
    ];
    const keys = new Set(whens.flatMap((when) => [...when.matchAll(/\b(claudemesh\.\w+)\b/g)].map((m) => m[1])));
    for (const key of keys) {
      if (viewIds.includes(key) || commandIds.includes(key)) continue;
      assert.ok(vscode.contextKeys.has(key), `a when clause reads ${key}, which is never set`);
    }
  });

  it('points the activity bar at an SVG icon in media/ that uses currentColor', () => {
    const container = contributes.viewsContainers.activitybar.find((c: { id: string }) => c.id === 'claudemesh');
    const svg = fs.readFileSync(path.join(root, container.icon), 'utf8');
    assert.match(svg, /^<svg[^>]+viewBox="0 0 24 24"/);
    assert.match(svg, /currentColor/);
    assert.doesNotMatch(svg, /#[0-9a-fA-F]{3,6}\b|rgb\(/, 'the icon must be monochrome');
  });

  it('contributes every setting the extension reads, with its default', () => {
    const properties = contributes.configuration.properties;
    const expected: Record<string, unknown> = {
      'claudemesh.displayName': '',
      'claudemesh.meshes': [],
      'claudemesh.configPath': '',
      'claudemesh.autoConnect': true,
      'claudemesh.notifications': 'all',
      'claudemesh.presenceNotifications': false,
    };
    for (const [key, value] of Object.entries(expected)) assert.deepEqual(properties[key]?.default, value, key);
    const read = fs.readFileSync(path.join(root, 'src/views/shared/ctx.ts'), 'utf8').match(/config\.get<[^>]+>\('(\w+)'/g) ?? [];
    for (const call of read) {
      const key = /'(\w+)'/.exec(call)![1];
      assert.ok(properties[`claudemesh.${key}`], `src/views/shared/ctx.ts reads claudemesh.${key}, which is not contributed`);
    }
  });
});
