/** One event of a conversation's timeline (SPEC §14), as stored and as `GET …/timeline` returns it. */
export type TimelineEvent =
  | { at: string; type: 'message'; messageId: string; text: string | null }
  | { at: string; type: 'reply'; text: string }
  | { at: string; type: 'handoff'; id: string; provider: string; state: 'pending' | 'done' | 'failed'; attempts: number; lastError: string | null; leg?: number; scheduledFor?: string; summary?: string }
  | { at: string; type: 'delivery'; id: string; state: string; status?: string; lastError?: string | null; template?: boolean }
  | { at: string; type: 'release'; cause: string; handoffId: string | null }
  | { at: string; type: 'takeover'; by: 'phone'; handoffId: string | null }
  | { at: string; type: 'first_response'; handoffId: string; action?: string };
