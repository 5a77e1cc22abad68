/**
 * Every notification the extension raises goes through here. A notification renders `[label](command:…)` as a link
 * and may show `$(icon)`, so its text is built with the `say` template tag: the literal parts are ours, and every
 * interpolated value goes through the untrusted-text rule (`inline`) unless it is itself a `say` result. The show
 * functions take only `Said`, so a raw string cannot reach a toast by accident. (test/views/untrusted.test.ts checks
 * that nothing else calls vscode.window.show*Message.)
 */
import * as vscode from 'vscode';
import { inline } from './untrusted';

export class Said {
  private constructor(readonly text: string) {}

  /** For the tag only. */
  static of(text: string): Said {
    return new Said(text);
  }
}

/** A notification text; values are defused, nested `say` results are kept as they are. */
export function say(strings: TemplateStringsArray, ...values: unknown[]): Said {
  let text = strings[0];
  values.forEach((value, i) => {
    text += (value instanceof Said ? value.text : inline(value, 300)) + strings[i + 1];
  });
  return Said.of(text);
}

export function showInfo<T extends string>(message: Said, ...items: T[]): Thenable<T | undefined> {
  return vscode.window.showInformationMessage(message.text, ...items);
}

export function showWarning<T extends string>(message: Said, ...items: T[]): Thenable<T | undefined> {
  return vscode.window.showWarningMessage(message.text, ...items);
}

export function showError<T extends string>(message: Said, ...items: T[]): Thenable<T | undefined> {
  return vscode.window.showErrorMessage(message.text, ...items);
}

/**
 * A modal question with one action; true when the user chose it. `detail` is shown whole under the question: a modal
 * renders plain text, so outside text may go there as it is (the chat panel shows a link's full target).
 */
export async function confirm(message: Said, action: string, detail?: string): Promise<boolean> {
  return (await vscode.window.showWarningMessage(message.text, { modal: true, ...(detail === undefined ? {} : { detail }) }, action)) === action;
}
