/**
 * A small but working stand-in for the `vscode` module, so the extension's views and commands run under plain mocha.
 * registerFakeVscode.ts makes `require('vscode')` resolve to this file; tests import it directly to script the user
 * (`ui`), read trees (`readTree`) and inspect what the extension did (`commandsRun`, `contextKeys`, `statusBarItems`).
 * It implements behaviour, not just shapes: configuration falls back to the manifest defaults, input boxes run
 * `validateInput`, `registerCommand` refuses duplicates, mementos store JSON copies like VS Code does.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

type Listener<T> = (value: T) => unknown;

export class Disposable {
  static from(...items: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => items.forEach((item) => item.dispose()));
  }
  constructor(private readonly onDispose: () => unknown) {}
  dispose(): void {
    this.onDispose();
  }
}

export class EventEmitter<T> {
  private listeners = new Set<Listener<T>>();
  readonly event = (listener: Listener<T>, thisArg?: unknown, disposables?: Disposable[]): Disposable => {
    const bound: Listener<T> = (value) => listener.call(thisArg, value);
    this.listeners.add(bound);
    const disposable = new Disposable(() => this.listeners.delete(bound));
    disposables?.push(disposable);
    return disposable;
  };
  fire(value: T): void {
    for (const listener of [...this.listeners]) listener(value);
  }
  dispose(): void {
    this.listeners.clear();
  }
}

export enum TreeItemCollapsibleState {
  None = 0,
  Collapsed = 1,
  Expanded = 2,
}
export enum StatusBarAlignment {
  Left = 1,
  Right = 2,
}
export enum ProgressLocation {
  SourceControl = 1,
  Window = 10,
  Notification = 15,
}
export enum ConfigurationTarget {
  Global = 1,
  Workspace = 2,
  WorkspaceFolder = 3,
}
export enum ViewColumn {
  Active = -1,
  Beside = -2,
  One = 1,
}
export enum QuickPickItemKind {
  Separator = -1,
  Default = 0,
}
export enum LogLevel {
  Off = 0,
  Trace = 1,
  Debug = 2,
  Info = 3,
  Warning = 4,
  Error = 5,
}
export enum FileType {
  Unknown = 0,
  File = 1,
  Directory = 2,
  SymbolicLink = 64,
}
export enum ExtensionMode {
  Production = 1,
  Development = 2,
  Test = 3,
}

export class ThemeColor {
  constructor(readonly id: string) {}
}

export class ThemeIcon {
  static readonly File = new ThemeIcon('file');
  static readonly Folder = new ThemeIcon('folder');
  constructor(
    readonly id: string,
    readonly color?: ThemeColor,
  ) {}
}

export class MarkdownString {
  isTrusted?: boolean | { readonly enabledCommands: readonly string[] };
  supportHtml?: boolean;
  supportThemeIcons?: boolean;
  constructor(
    public value = '',
    supportThemeIcons = false,
  ) {
    this.supportThemeIcons = supportThemeIcons;
  }
  appendText(value: string): MarkdownString {
    this.value += value.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
    return this;
  }
  appendMarkdown(value: string): MarkdownString {
    this.value += value;
    return this;
  }
  appendCodeblock(code: string, language = ''): MarkdownString {
    this.value += '\n```' + language + '\n' + code + '\n```\n';
    return this;
  }
}

interface UriParts {
  scheme: string;
  authority: string;
  path: string;
  query: string;
  fragment: string;
}

export class Uri implements UriParts {
  static parse(value: string): Uri {
    const match = /^([a-zA-Z][\w+.-]*):(?:\/\/([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/.exec(value);
    if (!match) throw new Error(`fake vscode: cannot parse uri "${value}"`);
    const [, scheme, authority = '', rawPath = '', query = '', fragment = ''] = match;
    return new Uri({ scheme, authority, path: decodeURIComponent(rawPath), query: decodeURIComponent(query), fragment });
  }
  static file(fsPath: string): Uri {
    return new Uri({ scheme: 'file', authority: '', path: path.resolve(fsPath), query: '', fragment: '' });
  }
  static from(parts: Partial<UriParts> & { scheme: string }): Uri {
    return new Uri({ authority: '', path: '', query: '', fragment: '', ...parts });
  }
  static joinPath(base: Uri, ...segments: string[]): Uri {
    return base.with({ path: path.posix.join(base.path, ...segments) });
  }

  readonly scheme: string;
  readonly authority: string;
  readonly path: string;
  readonly query: string;
  readonly fragment: string;
  private constructor(parts: UriParts) {
    ({ scheme: this.scheme, authority: this.authority, path: this.path, query: this.query, fragment: this.fragment } = parts);
  }
  get fsPath(): string {
    return this.path;
  }
  with(change: Partial<UriParts>): Uri {
    return new Uri({ ...this, ...change });
  }
  toString(): string {
    const authority = this.authority || this.scheme === 'file' ? `//${this.authority}` : '';
    const encodedPath = this.path.split('/').map(encodeURIComponent).join('/');
    return `${this.scheme}:${authority}${encodedPath}${this.query ? '?' + encodeURIComponent(this.query) : ''}${
      this.fragment ? '#' + encodeURIComponent(this.fragment) : ''
    }`;
  }
  toJSON(): UriParts {
    return { scheme: this.scheme, authority: this.authority, path: this.path, query: this.query, fragment: this.fragment };
  }
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}

export class Range {
  constructor(
    readonly start: Position,
    readonly end: Position,
  ) {}
  get isEmpty(): boolean {
    return this.start.line === this.end.line && this.start.character === this.end.character;
  }
}

export class Selection extends Range {
  constructor(
    readonly anchor: Position,
    readonly active: Position,
  ) {
    const anchorFirst = anchor.line < active.line || (anchor.line === active.line && anchor.character <= active.character);
    super(anchorFirst ? anchor : active, anchorFirst ? active : anchor);
  }
}

export class TreeItem {
  id?: string;
  description?: string | boolean;
  tooltip?: string | MarkdownString;
  iconPath?: ThemeIcon | Uri;
  contextValue?: string;
  command?: { command: string; title: string; arguments?: unknown[] };
  resourceUri?: Uri;
  accessibilityInformation?: { label: string };
  constructor(
    public label: string | { label: string },
    public collapsibleState: TreeItemCollapsibleState = TreeItemCollapsibleState.None,
  ) {}
}

// ---- text documents and editors ----------------------------------------------------------------------------

const languageByExtension: Record<string, string> = { '.ts': 'typescript', '.js': 'javascript', '.md': 'markdown', '.json': 'json' };

export class FakeTextDocument {
  isDirty = false;
  isUntitled: boolean;
  constructor(
    readonly uri: Uri,
    private text: string,
    public languageId = languageByExtension[path.extname(uri.path)] ?? 'plaintext',
  ) {
    this.isUntitled = uri.scheme === 'untitled';
  }
  get fileName(): string {
    return this.uri.fsPath;
  }
  get lineCount(): number {
    return this.text.split('\n').length;
  }
  getText(range?: Range): string {
    if (!range) return this.text;
    return this.text.slice(this.offsetAt(range.start), this.offsetAt(range.end));
  }
  offsetAt(position: Position): number {
    const lines = this.text.split('\n');
    let offset = 0;
    for (let line = 0; line < position.line && line < lines.length; line++) offset += lines[line].length + 1;
    return offset + position.character;
  }
  lineAt(line: number): { text: string } {
    return { text: this.text.split('\n')[line] ?? '' };
  }
  /** What an editor edit does to the buffer. */
  replace(range: Range, value: string): void {
    this.text = this.text.slice(0, this.offsetAt(range.start)) + value + this.text.slice(this.offsetAt(range.end));
    this.isDirty = true;
  }
}

export class FakeTextEditor {
  selection: Selection;
  viewColumn = ViewColumn.One;
  revealed: Range[] = [];
  constructor(readonly document: FakeTextDocument) {
    this.selection = new Selection(new Position(0, 0), new Position(0, 0));
  }
  get selections(): Selection[] {
    return [this.selection];
  }
  revealRange(range: Range): void {
    this.revealed.push(range);
  }
  async edit(build: (edit: { replace(range: Range, text: string): void; insert(at: Position, text: string): void }) => void): Promise<boolean> {
    const edits: [Range, string][] = [];
    build({ replace: (range, text) => edits.push([range, text]), insert: (at, text) => edits.push([new Range(at, at), text]) });
    // Apply from the end so earlier offsets stay valid.
    for (const [range, text] of edits.sort((a, b) => this.document.offsetAt(b[0].start) - this.document.offsetAt(a[0].start))) {
      this.document.replace(range, text);
    }
    return true;
  }
}

// ---- webviews -------------------------------------------------------------------------------------------

/** A webview without a page: the test plays the page, sending with `fromPage` and reading `posted`. */
export class FakeWebview {
  html = '';
  options: Record<string, unknown> = {};
  readonly cspSource = 'https://fake-webview.invalid';
  readonly posted: { type: string; [field: string]: unknown }[] = [];
  private readonly received = new EventEmitter<unknown>();
  readonly onDidReceiveMessage = this.received.event;
  asWebviewUri(uri: Uri): Uri {
    return Uri.from({ scheme: 'https', authority: 'fake-webview.invalid', path: uri.path });
  }
  async postMessage(message: unknown): Promise<boolean> {
    this.posted.push(JSON.parse(JSON.stringify(message)));
    return true;
  }
  /** What the chat page (src/views/chat/page.js) would send. */
  fromPage(message: unknown): void {
    this.received.fire(JSON.parse(JSON.stringify(message)));
  }
  /** The messages of one type the extension posted, oldest first. */
  postedOf(type: string): { type: string; [field: string]: unknown }[] {
    return this.posted.filter((m) => m.type === type);
  }
}

export class FakeWebviewPanel {
  readonly webview = new FakeWebview();
  visible = true;
  active = true;
  disposed = false;
  reveals = 0;
  private readonly disposeEmitter = new EventEmitter<void>();
  private readonly viewStateEmitter = new EventEmitter<{ webviewPanel: FakeWebviewPanel }>();
  readonly onDidDispose = this.disposeEmitter.event;
  readonly onDidChangeViewState = this.viewStateEmitter.event;
  constructor(
    readonly viewType: string,
    public title: string,
    readonly options: Record<string, unknown>,
  ) {
    this.webview.options = options;
  }
  reveal(): void {
    this.reveals++;
    focusPanel(this);
  }
  /** The user switched to another editor tab: the panel is hidden and not active. */
  hide(): void {
    this.setViewState(false, false);
  }
  setViewState(visible: boolean, active: boolean): void {
    this.visible = visible;
    this.active = active;
    this.viewStateEmitter.fire({ webviewPanel: this });
  }
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.disposeEmitter.fire();
  }
}

function focusPanel(panel: FakeWebviewPanel): void {
  for (const other of webviewPanels) if (other !== panel && other.active && !other.disposed) other.setViewState(false, false);
  panel.setViewState(true, true);
}

// ---- state shared by the namespaces below; reset() between tests ------------------------------------------

interface TextDocumentContentProvider {
  onDidChange?: (listener: Listener<Uri>) => Disposable;
  provideTextDocumentContent(uri: Uri, token: unknown): string | undefined | PromiseLike<string | undefined>;
}

interface TreeDataProvider<T> {
  onDidChangeTreeData?: (listener: Listener<T | T[] | undefined | null | void>) => Disposable;
  getTreeItem(element: T): TreeItem | PromiseLike<TreeItem>;
  getChildren(element?: T): T[] | undefined | null | PromiseLike<T[] | undefined | null>;
}

export class FakeTreeView<T> {
  badge?: { value: number; tooltip: string };
  message?: string;
  title?: string;
  description?: string;
  visible = true;
  readonly revealed: T[] = [];
  private readonly visibility = new EventEmitter<{ visible: boolean }>();
  readonly onDidChangeVisibility = this.visibility.event;
  readonly onDidChangeSelection = new EventEmitter<{ selection: T[] }>().event;
  readonly onDidExpandElement = new EventEmitter<{ element: T }>().event;
  readonly onDidCollapseElement = new EventEmitter<{ element: T }>().event;
  selection: T[] = [];
  disposed = false;
  constructor(
    readonly id: string,
    readonly treeDataProvider: TreeDataProvider<T>,
  ) {}
  /** What VS Code does when the user opens or hides the view. */
  setVisible(visible: boolean): void {
    this.visible = visible;
    this.visibility.fire({ visible });
  }
  async reveal(element: T): Promise<void> {
    this.revealed.push(element);
  }
  dispose(): void {
    this.disposed = true;
    if (treeViews.get(this.id) === (this as FakeTreeView<unknown>)) treeViews.delete(this.id);
  }
}

export class FakeStatusBarItem {
  text = '';
  tooltip?: string | MarkdownString;
  command?: string | { command: string; title: string; arguments?: unknown[] };
  backgroundColor?: ThemeColor;
  color?: string | ThemeColor;
  name?: string;
  accessibilityInformation?: { label: string };
  shown = false;
  disposed = false;
  constructor(
    readonly id: string | undefined,
    readonly alignment: StatusBarAlignment,
    readonly priority?: number,
  ) {}
  show(): void {
    this.shown = true;
  }
  hide(): void {
    this.shown = false;
  }
  dispose(): void {
    this.disposed = true;
    this.shown = false;
  }
}

export class FakeLogOutputChannel {
  readonly lines: string[] = [];
  logLevel = LogLevel.Trace;
  readonly onDidChangeLogLevel = new EventEmitter<LogLevel>().event;
  shown = false;
  constructor(readonly name: string) {}
  private write(level: string, message: string, args: unknown[]): void {
    this.lines.push(`[${level}] ${[message, ...args.map(String)].join(' ')}`);
  }
  trace(message: string, ...args: unknown[]): void {
    this.write('trace', message, args);
  }
  debug(message: string, ...args: unknown[]): void {
    this.write('debug', message, args);
  }
  info(message: string, ...args: unknown[]): void {
    this.write('info', message, args);
  }
  warn(message: string, ...args: unknown[]): void {
    this.write('warning', message, args);
  }
  error(error: string | Error, ...args: unknown[]): void {
    this.write('error', error instanceof Error ? error.stack ?? error.message : error, args);
  }
  append(value: string): void {
    this.lines.push(value);
  }
  appendLine(value: string): void {
    this.lines.push(value);
  }
  replace(value: string): void {
    this.lines.splice(0, this.lines.length, value);
  }
  clear(): void {
    this.lines.length = 0;
  }
  show(): void {
    this.shown = true;
  }
  hide(): void {
    this.shown = false;
  }
  dispose(): void {}
}

export class Memento {
  private readonly map = new Map<string, string>();
  syncedKeys: readonly string[] = [];
  keys(): readonly string[] {
    return [...this.map.keys()];
  }
  get<T>(key: string, defaultValue?: T): T | undefined {
    const raw = this.map.get(key);
    return raw === undefined ? defaultValue : (JSON.parse(raw) as T);
  }
  update(key: string, value: unknown): Promise<void> {
    if (value === undefined) this.map.delete(key);
    else this.map.set(key, JSON.stringify(value));
    return Promise.resolve();
  }
  setKeysForSync(keys: readonly string[]): void {
    this.syncedKeys = keys;
  }
  /** Everything stored, as the raw JSON VS Code would write to disk. */
  dump(): string {
    return [...this.map].map(([key, raw]) => `${key}=${raw}`).join('\n');
  }
}

export class SecretStorage {
  readonly map = new Map<string, string>();
  private readonly changes = new EventEmitter<{ key: string }>();
  readonly onDidChange = this.changes.event;
  async get(key: string): Promise<string | undefined> {
    return this.map.get(key);
  }
  async store(key: string, value: string): Promise<void> {
    this.map.set(key, value);
    this.changes.fire({ key });
  }
  async delete(key: string): Promise<void> {
    this.map.delete(key);
    this.changes.fire({ key });
  }
}

export interface ShownMessage {
  severity: 'info' | 'warning' | 'error';
  message: string;
  items: string[];
  modal: boolean;
  detail?: string;
}

type QuickPickAnswer = string | ((items: readonly QuickPickLike[], options: Record<string, unknown>) => unknown);
type InputAnswer = string | undefined | ((options: Record<string, unknown>) => string | undefined);
type MessageAnswer = string | undefined | ((message: ShownMessage) => string | undefined);
interface QuickPickLike {
  label: string;
  description?: string;
  detail?: string;
  kind?: QuickPickItemKind;
}

/**
 * The scripted user. Queue answers before triggering a command; an empty queue answers like a dismissed prompt.
 * A quick-pick answer given as a string picks the item with exactly that label. Mismatches are collected in
 * `scriptErrors` (asserted empty by tests) rather than thrown, because the extension would swallow them.
 */
export const ui = {
  messages: [] as ShownMessage[],
  quickPicks: [] as { items: QuickPickLike[]; options: Record<string, unknown> }[],
  inputBoxes: [] as Record<string, unknown>[],
  /** Values scripted into an input box that its validateInput refused, with the reason it gave. */
  rejectedInputs: [] as { value: string; reason: string }[],
  scriptErrors: [] as string[],
  queue: { quickPick: [] as QuickPickAnswer[], inputBox: [] as InputAnswer[], message: [] as MessageAnswer[] },
  /** Answers a message when its queue is empty, e.g. to click "Reply" on a notification that arrives later. */
  /** Answers every message not in the queue; a promise keeps the toast open until it settles. */
  onMessage: undefined as ((message: ShownMessage) => string | undefined | Promise<string | undefined>) | undefined,
  progress: [] as { title?: string; message?: string }[],
};

export const commandsRun: { id: string; args: unknown[] }[] = [];
export const contextKeys = new Map<string, unknown>();
export const treeViews = new Map<string, FakeTreeView<unknown>>();
export const statusBarItems: FakeStatusBarItem[] = [];
export const outputChannels: FakeLogOutputChannel[] = [];
export const shownDocuments: FakeTextDocument[] = [];
export const contentProviders = new Map<string, TextDocumentContentProvider>();
export const webviewPanels: FakeWebviewPanel[] = [];
export const webviewSerializers = new Map<string, { deserializeWebviewPanel(panel: FakeWebviewPanel, state: unknown): Thenable<void> }>();
const registeredCommands = new Map<string, (...args: unknown[]) => unknown>();
const configValues = new Map<string, unknown>();
const configDefaults = new Map<string, unknown>();
const configChanges = new EventEmitter<{ affectsConfiguration(section: string): boolean }>();
const activeEditorChanges = new EventEmitter<FakeTextEditor | undefined>();
/** The fake shows one editor at a time: the visible editors are the active one. */
const visibleEditorChanges = new EventEmitter<FakeTextEditor[]>();

/** Reads `contributes.configuration` defaults, as VS Code does for an installed extension. */
export function loadManifestDefaults(packageJsonPath: string): void {
  const manifest = JSON.parse(fs.readFileSync(packageJsonPath, 'utf8'));
  const sections = [manifest.contributes?.configuration ?? []].flat();
  for (const section of sections) {
    for (const [key, schema] of Object.entries<{ default?: unknown }>(section.properties ?? {})) {
      configDefaults.set(key, schema.default);
    }
  }
}

/**
 * This machine's extension storage folders: one for the workspace (`storageUri`) and one global, shared by every
 * context, as windows on one machine and workspace share them. Emptied by reset() and removed when the process exits.
 */
export const storageRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'claudemesh-fake-storage-'));
process.on('exit', () => fs.rmSync(storageRoot, { recursive: true, force: true }));

export function reset(): void {
  for (const name of fs.readdirSync(storageRoot)) fs.rmSync(path.join(storageRoot, name), { recursive: true, force: true });
  for (const list of [ui.messages, ui.quickPicks, ui.inputBoxes, ui.rejectedInputs, ui.scriptErrors, ui.progress]) list.length = 0;
  for (const list of Object.values(ui.queue)) list.length = 0;
  ui.onMessage = undefined;
  commandsRun.length = 0;
  statusBarItems.length = 0;
  outputChannels.length = 0;
  shownDocuments.length = 0;
  contextKeys.clear();
  treeViews.clear();
  contentProviders.clear();
  webviewPanels.length = 0;
  webviewSerializers.clear();
  registeredCommands.clear();
  configValues.clear();
  env.clipboard.text = '';
  env.opened.length = 0;
  window.activeTextEditor = undefined;
  window.statusBarMessages.length = 0;
  workspace.workspaceFolders = undefined;
}

export function registeredCommandIds(): string[] {
  return [...registeredCommands.keys()];
}

export interface TreeNode {
  label: string;
  description?: string;
  tooltip?: string;
  contextValue?: string;
  icon?: string;
  command?: string;
  item: TreeItem;
  element: unknown;
  children: TreeNode[];
}

/** Renders a contributed view's whole tree, expanding every collapsible item. */
export async function readTree(viewId: string): Promise<TreeNode[]> {
  const view = treeViews.get(viewId);
  if (!view) throw new Error(`fake vscode: no tree view "${viewId}" was created`);
  const provider = view.treeDataProvider;
  const render = async (parent?: unknown): Promise<TreeNode[]> => {
    const nodes: TreeNode[] = [];
    for (const element of (await provider.getChildren(parent)) ?? []) {
      const item = await provider.getTreeItem(element);
      const tooltip = item.tooltip instanceof MarkdownString ? item.tooltip.value : item.tooltip;
      nodes.push({
        label: typeof item.label === 'string' ? item.label : item.label.label,
        description: typeof item.description === 'string' ? item.description : undefined,
        tooltip,
        contextValue: item.contextValue,
        icon: item.iconPath instanceof ThemeIcon ? item.iconPath.id : undefined,
        command: item.command?.command,
        item,
        element,
        children: item.collapsibleState === TreeItemCollapsibleState.None ? [] : await render(element),
      });
    }
    return nodes;
  };
  return render();
}

export function setActiveEditor(document: FakeTextDocument, selection?: Selection): FakeTextEditor {
  const editor = new FakeTextEditor(document);
  if (selection) editor.selection = selection;
  window.activeTextEditor = editor;
  activeEditorChanges.fire(editor);
  visibleEditorChanges.fire([editor]);
  return editor;
}

export function makeExtensionContext(root: string, state?: { workspaceState?: Memento; globalState?: Memento; secrets?: SecretStorage }) {
  return {
    subscriptions: [] as { dispose(): unknown }[],
    workspaceState: state?.workspaceState ?? new Memento(),
    globalState: state?.globalState ?? new Memento(),
    secrets: state?.secrets ?? new SecretStorage(),
    extensionUri: Uri.file(root),
    extensionPath: root,
    extensionMode: ExtensionMode.Test,
    storageUri: Uri.file(path.join(storageRoot, 'workspace')),
    globalStorageUri: Uri.file(path.join(storageRoot, 'global')),
    logUri: Uri.file(path.join(root, '.logs')),
    asAbsolutePath: (relative: string) => path.join(root, relative),
  };
}

// ---- namespaces --------------------------------------------------------------------------------------------

export const commands = {
  registerCommand(id: string, handler: (...args: unknown[]) => unknown, thisArg?: unknown): Disposable {
    if (registeredCommands.has(id)) throw new Error(`command '${id}' already exists`);
    registeredCommands.set(id, handler.bind(thisArg));
    return new Disposable(() => registeredCommands.delete(id));
  },
  async executeCommand<T>(id: string, ...args: unknown[]): Promise<T | undefined> {
    commandsRun.push({ id, args });
    if (id === 'setContext') {
      contextKeys.set(String(args[0]), args[1]);
      return undefined;
    }
    const handler = registeredCommands.get(id);
    // Anything else is a built-in (view focus, vscode.open, ...): recorded for the test to check.
    return handler ? ((await handler(...args)) as T) : undefined;
  },
  async getCommands(): Promise<string[]> {
    return [...registeredCommands.keys()];
  },
};

function splitMessageArgs(rest: unknown[]): { options: { modal?: boolean; detail?: string }; items: unknown[] } {
  const first = rest[0];
  const isOptions = typeof first === 'object' && first !== null && !('title' in first);
  return { options: isOptions ? first : {}, items: isOptions ? rest.slice(1) : rest };
}

function showMessage(severity: ShownMessage['severity'], message: string, rest: unknown[]): Promise<unknown> {
  const { options, items } = splitMessageArgs(rest);
  const titles = items.map((item) => (typeof item === 'string' ? item : (item as { title: string }).title));
  const shown: ShownMessage = { severity, message, items: titles, modal: !!options.modal, detail: options.detail };
  ui.messages.push(shown);
  const scripted = ui.queue.message.length ? ui.queue.message.shift() : ui.onMessage;
  const answer = typeof scripted === 'function' ? scripted(shown) : scripted;
  if (answer instanceof Promise) return answer.then((later) => (later === undefined ? undefined : items[titles.indexOf(later)]));
  if (answer === undefined) return Promise.resolve(undefined);
  const index = titles.indexOf(answer);
  if (index < 0) {
    ui.scriptErrors.push(`message "${message}" has no button "${answer}" (buttons: ${titles.join(', ')})`);
    return Promise.resolve(undefined);
  }
  return Promise.resolve(items[index]);
}

const windowStateChanges = new EventEmitter<{ focused: boolean }>();

export const window = {
  activeTextEditor: undefined as FakeTextEditor | undefined,
  state: { focused: true },
  onDidChangeWindowState: windowStateChanges.event,
  /** What VS Code does when the window gains or loses focus. */
  setFocused(focused: boolean): void {
    window.state = { focused };
    windowStateChanges.fire({ focused });
  },
  get visibleTextEditors(): FakeTextEditor[] {
    return window.activeTextEditor ? [window.activeTextEditor] : [];
  },
  onDidChangeActiveTextEditor: activeEditorChanges.event,
  onDidChangeVisibleTextEditors: visibleEditorChanges.event,
  createOutputChannel(name: string): FakeLogOutputChannel {
    const channel = new FakeLogOutputChannel(name);
    outputChannels.push(channel);
    return channel;
  },
  createTreeView<T>(id: string, options: { treeDataProvider: TreeDataProvider<T> }): FakeTreeView<T> {
    if (treeViews.has(id)) throw new Error(`fake vscode: tree view "${id}" created twice`);
    const view = new FakeTreeView(id, options.treeDataProvider);
    treeViews.set(id, view);
    return view;
  },
  createStatusBarItem(...args: unknown[]): FakeStatusBarItem {
    const [id, alignment, priority] = typeof args[0] === 'string' ? args : [undefined, ...args];
    const item = new FakeStatusBarItem(id as string | undefined, (alignment as StatusBarAlignment) ?? StatusBarAlignment.Left, priority as number | undefined);
    statusBarItems.push(item);
    return item;
  },
  showInformationMessage: (message: string, ...rest: unknown[]) => showMessage('info', message, rest),
  showWarningMessage: (message: string, ...rest: unknown[]) => showMessage('warning', message, rest),
  showErrorMessage: (message: string, ...rest: unknown[]) => showMessage('error', message, rest),
  async showQuickPick(itemsOrPromise: unknown, options: Record<string, unknown> = {}): Promise<unknown> {
    const all = (await itemsOrPromise) as (string | QuickPickLike)[];
    const items = all.map((item) => (typeof item === 'string' ? { label: item } : item));
    ui.quickPicks.push({ items, options });
    const scripted = ui.queue.quickPick.shift();
    if (scripted === undefined) return undefined;
    const selectable = items.filter((item) => item.kind !== QuickPickItemKind.Separator);
    const answer = typeof scripted === 'function' ? scripted(selectable, options) : selectable.find((item) => item.label === scripted);
    if (answer === undefined) {
      ui.scriptErrors.push(`quick pick "${options.title ?? options.placeHolder ?? ''}" has no item "${String(scripted)}" (items: ${selectable.map((i) => i.label).join(', ')})`);
      return undefined;
    }
    const toOriginal = (picked: unknown) => all[items.indexOf(picked as QuickPickLike)];
    return Array.isArray(answer) ? answer.map(toOriginal) : toOriginal(answer);
  },
  async showInputBox(options: Record<string, unknown> = {}): Promise<string | undefined> {
    ui.inputBoxes.push(options);
    const scripted = ui.queue.inputBox.shift();
    const value = typeof scripted === 'function' ? scripted(options) : scripted;
    if (value === undefined) return undefined;
    const validate = options.validateInput as ((value: string) => unknown) | undefined;
    const verdict = await validate?.(value);
    const reason = typeof verdict === 'object' && verdict ? (verdict as { message: string }).message : verdict;
    if (reason) {
      ui.rejectedInputs.push({ value, reason: String(reason) });
      return undefined;
    }
    return value;
  },
  async withProgress<R>(options: { title?: string }, task: (progress: { report(value: { message?: string }): void }, token: unknown) => Promise<R>): Promise<R> {
    ui.progress.push({ title: options.title });
    const token = { isCancellationRequested: false, onCancellationRequested: new EventEmitter<void>().event };
    return task({ report: (value) => ui.progress.push({ title: options.title, message: value.message }) }, token);
  },
  async showTextDocument(documentOrUri: FakeTextDocument | Uri, options: { selection?: Range } = {}): Promise<FakeTextEditor> {
    const document = documentOrUri instanceof Uri ? await workspace.openTextDocument(documentOrUri) : documentOrUri;
    shownDocuments.push(document);
    for (const panel of webviewPanels) if (panel.active) panel.setViewState(panel.visible, false);
    const selection = options.selection && new Selection(options.selection.start, options.selection.end);
    return setActiveEditor(document, selection);
  },
  createWebviewPanel(viewType: string, title: string, _show: unknown, options: Record<string, unknown> = {}): FakeWebviewPanel {
    const panel = new FakeWebviewPanel(viewType, title, options);
    webviewPanels.push(panel);
    focusPanel(panel);
    return panel;
  },
  registerWebviewPanelSerializer(viewType: string, serializer: { deserializeWebviewPanel(panel: FakeWebviewPanel, state: unknown): Thenable<void> }): Disposable {
    if (webviewSerializers.has(viewType)) throw new Error(`fake vscode: a serializer for "${viewType}" is already registered`);
    webviewSerializers.set(viewType, serializer);
    return new Disposable(() => webviewSerializers.delete(viewType));
  },
  statusBarMessages: [] as string[],
  setStatusBarMessage(text: string): Disposable {
    window.statusBarMessages.push(text);
    return new Disposable(() => undefined);
  },
  registerTreeDataProvider(): Disposable {
    throw new Error('fake vscode: use createTreeView, which gives the provider a view to own');
  },
};

export const workspace = {
  workspaceFolders: undefined as { uri: Uri; name: string; index: number }[] | undefined,
  workspaceFile: undefined as Uri | undefined,
  isTrusted: true,
  onDidChangeConfiguration: configChanges.event,
  onDidChangeWorkspaceFolders: new EventEmitter<unknown>().event,
  getConfiguration(section?: string) {
    const full = (key: string) => (section ? `${section}.${key}` : key);
    return {
      get<T>(key: string, fallback?: T): T | undefined {
        const name = full(key);
        if (configValues.has(name)) return configValues.get(name) as T;
        return configDefaults.has(name) ? (configDefaults.get(name) as T) : fallback;
      },
      has(key: string): boolean {
        return configValues.has(full(key)) || configDefaults.has(full(key));
      },
      async update(key: string, value: unknown): Promise<void> {
        const name = full(key);
        if (value === undefined) configValues.delete(name);
        else configValues.set(name, JSON.parse(JSON.stringify(value)));
        configChanges.fire({ affectsConfiguration: (s: string) => name === s || name.startsWith(s + '.') });
      },
      inspect(key: string) {
        return { key: full(key), defaultValue: configDefaults.get(full(key)), globalValue: configValues.get(full(key)) };
      },
    };
  },
  /** The user's settings as VS Code would persist them to settings.json. */
  dumpSettings(): string {
    return JSON.stringify(Object.fromEntries(configValues));
  },
  asRelativePath(pathOrUri: string | Uri): string {
    const target = typeof pathOrUri === 'string' ? pathOrUri : pathOrUri.fsPath;
    for (const folder of workspace.workspaceFolders ?? []) {
      const relative = path.relative(folder.uri.fsPath, target);
      if (!relative.startsWith('..') && !path.isAbsolute(relative)) return relative.split(path.sep).join('/');
    }
    return target;
  },
  fs: {
    async stat(uri: Uri): Promise<{ type: FileType; size: number }> {
      const stat = fs.statSync(uri.fsPath);
      return { type: stat.isFile() ? FileType.File : stat.isDirectory() ? FileType.Directory : FileType.Unknown, size: stat.size };
    },
  },
  registerTextDocumentContentProvider(scheme: string, provider: TextDocumentContentProvider): Disposable {
    if (contentProviders.has(scheme)) throw new Error(`fake vscode: a provider for "${scheme}" is already registered`);
    contentProviders.set(scheme, provider);
    return new Disposable(() => contentProviders.delete(scheme));
  },
  async openTextDocument(target: Uri | string | { content?: string; language?: string }): Promise<FakeTextDocument> {
    if (target instanceof Uri) {
      if (target.scheme === 'file') return new FakeTextDocument(target, fs.readFileSync(target.fsPath, 'utf8'));
      const provider = contentProviders.get(target.scheme);
      if (!provider) throw new Error(`cannot open ${target.toString()}: no provider for scheme "${target.scheme}"`);
      const text = await provider.provideTextDocumentContent(target, { isCancellationRequested: false });
      if (text === undefined) throw new Error(`cannot open ${target.toString()}: the provider returned nothing`);
      return new FakeTextDocument(target, text);
    }
    if (typeof target === 'string') return workspace.openTextDocument(Uri.file(target));
    return new FakeTextDocument(Uri.from({ scheme: 'untitled', path: 'Untitled-1' }), target.content ?? '', target.language ?? 'plaintext');
  },
};

export const languages = {
  async setTextDocumentLanguage(document: FakeTextDocument, languageId: string): Promise<FakeTextDocument> {
    document.languageId = languageId;
    return document;
  },
};

export const env = {
  appName: 'Fake Code',
  machineId: 'fake-machine',
  sessionId: 'fake-session',
  uriScheme: 'vscode',
  remoteName: undefined as string | undefined,
  clipboard: {
    text: '',
    async readText(): Promise<string> {
      return env.clipboard.text;
    },
    async writeText(value: string): Promise<void> {
      env.clipboard.text = value;
    },
  },
  opened: [] as Uri[],
  async openExternal(uri: Uri): Promise<boolean> {
    env.opened.push(uri);
    return true;
  },
};

export const version = '1.90.0';

/**
 * Waits for something the extension does asynchronously (a broker round trip, an event) by polling `condition`.
 * The limit is a deadline for a hang, not a timing assertion; on expiry it fails naming `what` it waited for.
 */
export async function until(condition: () => boolean | Promise<boolean>, what: string, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
