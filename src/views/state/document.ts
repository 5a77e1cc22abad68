/** A shared-state value as a read-only JSON document. */
import type { MeshClientApi } from '../../broker/types';
import type { DocRef } from '../shared/documents';
import { documentJson } from '../shared/untrusted';

/**
 * A shared-state value as JSON, inside an object of ours: the JSON language fetches the schema named by the root's
 * `$schema`, and a peer's value (which may well have one) is never the root.
 */
export function renderState(key: string, entry: { value: unknown; updatedBy?: string; updatedAt?: string } | undefined): string {
  const envelope = { key, updatedBy: entry?.updatedBy ?? '', updatedAt: entry?.updatedAt ?? '', value: entry ? entry.value : null };
  return documentJson(envelope) + '\n';
}

/** The value's document, read from the client each time it is shown. */
export async function stateDocument(client: MeshClientApi, ref: Extract<DocRef, { kind: 'state' }>): Promise<string> {
  return renderState(ref.key, await client.getState(ref.key));
}
