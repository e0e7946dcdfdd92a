import { z } from 'zod';
import { platformSettings, secret, template } from '../../config/fields.js';
import { handoffKeys, statusCheckKey } from '../handoff-keys.js';
import type { HandoffBlock } from '../types.js';

/** A channel's `handoff` block for SuperAgentes (SPEC §2, §5, §9.2): assignees, priority, title. */
export const superagentesHandoff = z.strictObject({
  provider: z.literal('superagentes'),
  assigneeIds: z.array(secret, { error: 'must be a list of strings' }).min(1, { error: 'must not be empty' }).optional(),
  priority: z.enum(['LOW', 'MEDIUM', 'HIGH'], { error: 'must be LOW, MEDIUM or HIGH' }).default('HIGH'),
  title: template.optional(),
  statusCheck: statusCheckKey,
  ...handoffKeys,
});
export type SuperagentesHandoff = z.infer<typeof superagentesHandoff>;
export const isSuperagentesHandoff = (block: HandoffBlock): block is SuperagentesHandoff => block.provider === 'superagentes';

/** `providers.superagentes`: the shared token. */
export const superagentesSettings = z.strictObject({ ...platformSettings('https://dash.superagentes.ai'), token: secret.optional() });
