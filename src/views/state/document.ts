/** A shared-state value as a read-only JSON document. */
import type { MeshClientApi, StateEntry } from '../../broker/types';
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

/**
 * The value's document: the entry the Shared State view shows (`known`: read per connection, then kept live by
 * state_change and our own writes) when it has one, else read from the broker. set_state gets no reply, so a get_state
 * sent right after our own write can be answered before the write lands, and the document would keep the old value
 * beside the view's new one.
 */
export async function stateDocument(client: MeshClientApi, ref: Extract<DocRef, { kind: 'state' }>, known?: StateEntry): Promise<string> {
  return renderState(ref.key, known ?? (await client.getState(ref.key)));
}
