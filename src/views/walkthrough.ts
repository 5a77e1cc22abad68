/**
 * Ticks the Getting Started steps that are already true. VS Code completes a step on an `onContext:` event only when
 * the context key changes after it registered the walkthrough, and it registers extension walkthroughs only when its
 * walkthrough service starts (with the first Welcome page shown) and some seconds later still. Our keys are set at
 * activation, so "Join a mesh" stayed unticked for a user who had an identity all along, and "See who is on the
 * mesh" for one whose Peers view was already open. The manifest's completion events still cover what happens while
 * the walkthrough is open; this marks the two steps done, through VS Code's own Mark Done command, once they hold.
 */
import * as vscode from 'vscode';
import type { Ctx } from './shared/ctx';
import { errorMessage } from './shared/text';

/** `publisher.name#id` of the Getting Started walkthrough in package.json. */
export const WALKTHROUGH = 'claudemesh.claudemesh-vscode#claudemesh.gettingStarted';

/** The walkthrough's "Mark Done" (VS Code's internal command; other editors may lack it, which only costs the tick). */
const MARK_STEP_DONE = 'welcome.markStepComplete';

export class WalkthroughProgress implements vscode.Disposable {
  private readonly marked = new Set<string>();
  private readonly subscriptions: vscode.Disposable[];

  constructor(
    private readonly ctx: Ctx,
    private readonly peersView: { readonly visible: boolean; readonly onDidChangeVisibility: vscode.Event<unknown> },
  ) {
    const check = () => this.check();
    this.subscriptions = [ctx.onDidChangeClients(check), ctx.onDidChangePeers(check), peersView.onDidChangeVisibility(check)];
  }

  private check(): void {
    if (this.ctx.identities.length > 0) this.mark('join');
    if (this.peersView.visible && this.ctx.clients.some((c) => c.state.kind === 'connected' && c.peersListed)) this.mark('peers');
  }

  /** Once per window: the step stays done in VS Code's storage. */
  private mark(step: string): void {
    if (this.marked.has(step)) return;
    this.marked.add(step);
    // VS Code records the step as done before it looks the step up, so a walkthrough it has not registered yet (it
    // rejects then) shows it ticked once registered.
    Promise.resolve(vscode.commands.executeCommand(MARK_STEP_DONE, `${WALKTHROUGH}#${step}`)).catch((err: unknown) =>
      this.ctx.log.debug(`Getting Started step "${step}" not marked done: ${errorMessage(err)}`),
    );
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
  }
}
