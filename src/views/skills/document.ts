/** A skill as a read-only plain-text document: our header, then the peer's instructions (shared/documents.ts says why). */
import type { MeshClientApi, Skill } from '../../broker/types';
import type { DocRef } from '../shared/documents';
import { READ_ONLY_NOTE, RULE } from '../shared/documents';
import { documentLine, documentText } from '../shared/untrusted';

export function renderSkill(skill: Skill, meshSlug: string): string {
  return [
    `Claudemesh skill, ${READ_ONLY_NOTE}.`,
    `Name: ${documentLine(skill.name, 200)}`,
    `Description: ${documentLine(skill.description, 1000)}`,
    `Tags: ${documentLine(skill.tags.join(', '), 500)}`,
    `Shared by member ${documentLine(skill.author || 'unknown')} on mesh ${documentLine(meshSlug)}${skill.createdAt ? `, ${documentLine(skill.createdAt, 40)}` : ''}`,
    RULE,
    documentText(skill.instructions),
  ].join('\n');
}

/** The skill's document, read from the broker each time it is shown. */
export async function skillDocument(client: MeshClientApi, ref: Extract<DocRef, { kind: 'skill' }>): Promise<string> {
  const skill = await client.getSkill(ref.name);
  if (!skill) return `The skill "${documentLine(ref.name)}" no longer exists in mesh ${documentLine(client.mesh.slug)}.`;
  return renderSkill(skill, client.mesh.slug);
}
