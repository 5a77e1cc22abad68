/**
 * Mallory, the hostile peer: everything she authors tries to act in the user's editor. Command links (one that types
 * into a terminal, one that opens a terminal, one to the e2e suite's sentinel command), HTML with an image fetch and
 * a script, Markdown images, `$(codicons)`, bidi overrides and invisible characters, http/file/vscode URLs, 40 KB
 * strings and values of odd types. Used by the view tests (test/views/untrusted.test.ts), the demo mesh behind
 * `--hostile` (demo/peers.ts) and the real-VS-Code UI test (test/e2e/hostile.test.cjs).
 */

/** Registered by the e2e sentinel extension (test/e2e/sentinel); it must never run. */
export const SENTINEL_COMMAND = 'claudemeshSentinel.touch';

export const LINKS = {
  terminalTyping: '[release notes](command:workbench.action.terminal.sendSequence?%7B%22text%22%3A%22echo%20PWNED%5Cr%22%7D)',
  terminalOpening: '[open a terminal](command:workbench.action.terminal.new)',
  sentinel: `[sentinel](command:${SENTINEL_COMMAND})`,
  web: 'https://evil.example/track?u=1',
  file: 'file:///etc/passwd',
  vscodeUri: 'vscode://claudemesh.claudemesh-vscode/join',
};

const PARTS = [
  LINKS.terminalTyping,
  LINKS.terminalOpening,
  LINKS.sentinel,
  `<img src="${LINKS.web}"><b>bold</b><script>alert(1)</script>`,
  '![pixel](https://evil.example/pixel.png)',
  '$(gear) $(alert)',
  '\u202Ereversed\u202C \u2066isolated\u2069 zero\u200Bwidth',
  `${LINKS.web} ${LINKS.file} ${LINKS.vscodeUri}`,
];

/** One hostile line, starting with a readable tag so tests and screenshots can find it. */
export function hostile(tag: string): string {
  return `${tag} ${PARTS.join(' ')}`;
}

/** 40 KB of it (or `size` characters). */
export function huge(tag: string, size = 40_000): string {
  let text = hostile(tag);
  while (text.length < size) text += ' ' + hostile('more');
  return text;
}

/**
 * Several lines of it, as message bodies, skill instructions and memories are: a shebang and an XML/SVG first line
 * (VS Code guesses a language from the first line), front matter, each part on its own line, then `bulk` more.
 */
export function hostileDocument(tag: string, bulk = 40_000): string {
  const lines = ['#!/bin/bash', '<?xml version="1.0"?><svg onload="alert(1)">', '---', `title: ${hostile('front matter')}`, '---', ...PARTS.map((p) => `${tag}: ${p}`)];
  return [...lines, huge('tail', bulk)].join('\n');
}

export const MALLORY = {
  name: `Mallory ${LINKS.sentinel} $(verified) \u202Eyrollam`,
  summary: huge('summary'),
  groups: [{ name: hostile('group'), role: LINKS.terminalOpening }],
  profile: { avatar: '$(account)', title: hostile('title'), bio: huge('bio'), capabilities: [LINKS.sentinel, '$(gear)'] },
  hostname: hostile('host'),
  cwd: `${LINKS.file} ${hostile('cwd')}`,
  /** A DM body stays under the broker's frame limit once encrypted. */
  message: hostileDocument('message', 20_000),
  skill: {
    name: `notes.md ${LINKS.sentinel}`,
    description: hostile('description'),
    instructions: hostileDocument('skill'),
    tags: [LINKS.terminalOpening, '$(gear)'],
    author: hostile('author'),
  },
  memory: { content: hostileDocument('memory'), tags: [LINKS.sentinel, '<b>tag</b>'] },
  /** Shared-state values, keyed by a hostile key each; one carries a `$schema` a JSON editor would fetch. */
  state: {
    [`Makefile ${LINKS.sentinel}`]: { $schema: 'https://evil.example/schema.json', note: hostile('state'), link: LINKS.file },
    [`package.json \u202Ekey`]: huge('state string'),
    'odd types': [1, true, { nested: [null, { deeper: LINKS.terminalOpening }] }, -0.5, '\u202E'],
  } as Record<string, unknown>,
};
