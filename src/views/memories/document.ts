/** A memory as a read-only plain-text document: our header, then the remembered text (shared/documents.ts says why). */
import type { Memory } from '../../broker/types';
import { READ_ONLY_NOTE, RULE } from '../shared/documents';
import { documentLine, documentText } from '../shared/untrusted';

export function renderMemory(memory: Memory): string {
  return [
    `Claudemesh memory, ${READ_ONLY_NOTE}.`,
    `Remembered by member ${documentLine(memory.rememberedBy || 'unknown')} at ${documentLine(memory.rememberedAt, 40)}`,
    ...(memory.tags.length ? [`Tags: ${documentLine(memory.tags.join(', '), 500)}`] : []),
    RULE,
    documentText(memory.content),
  ].join('\n') + '\n';
}

/** A memory's document: the broker has no "get memory", so it is one of the last recall's results, or a note. */
export function memoryDocument(memory: Memory | undefined): string {
  return memory ? renderMemory(memory) : 'This memory is no longer in the last recall results. Run "Claudemesh: Recall" again.';
}
