import { bearerAuth, Emulator, type RouteResult } from './emulator.js';

export type SuperagentesChannel = 'whatsapp' | 'website' | 'telegram' | 'email' | 'api';
export type SuperagentesStatus = 'UNRESOLVED' | 'RESOLVED' | 'HUMAN_REQUESTED';
export type SuperagentesPriority = 'LOW' | 'MEDIUM' | 'HIGH';

/** An organization membership as the API nests it in `assignees`. */
export interface SuperagentesAssignee {
  id: string;
  user: { id: string; name: string };
}

export interface SuperagentesConversation {
  id: string;
  channel: SuperagentesChannel;
  /** The customer's id on the channel: the phone digits for WhatsApp. */
  channelExternalId: string;
  agentId: string | null;
  status: SuperagentesStatus;
  priority: SuperagentesPriority;
  title: string | null;
  assignees: SuperagentesAssignee[];
  updatedAt: string;
}

export type AddConversationOptions = Partial<SuperagentesConversation> & { channelExternalId: string };

/** One applied PATCH (only the fields the request carried). */
export interface SuperagentesUpdate {
  id: string;
  title?: string | null;
  priority?: SuperagentesPriority;
  assigneeIds?: string[];
  at: string;
}

/** One applied bulk status change. */
export interface SuperagentesBulkUpdate {
  channel?: SuperagentesChannel;
  agentId?: string;
  status: SuperagentesStatus;
  count: number;
  ids: string[];
  at: string;
}

export interface SuperagentesEmulatorOptions {
  token?: string;
  /** Shape of the list answer: `{"data":[…]}` (default) or a bare array — SPEC §5 allows both. */
  listShape?: 'array' | 'data';
  /** Sandbox mode: a lookup of a customer without an open conversation creates one first. */
  autoCreateConversations?: boolean;
}

export const SUPERAGENTES_CHANNELS: readonly SuperagentesChannel[] = ['whatsapp', 'website', 'telegram', 'email', 'api'];
export const SUPERAGENTES_STATUSES: readonly SuperagentesStatus[] = ['UNRESOLVED', 'RESOLVED', 'HUMAN_REQUESTED'];
export const SUPERAGENTES_PRIORITIES: readonly SuperagentesPriority[] = ['LOW', 'MEDIUM', 'HIGH'];

const invalid = (message: string): RouteResult => ({ status: 400, body: { message } });

/**
 * SuperAgentes conversations API (seeds/superagentes-update-conversation.md,
 * seeds/superagentes-bulk-update-status.md): Bearer token; `GET /api/conversations`
 * filtered by `channelExternalId`; `PATCH /api/conversations/{id}` (title, priority,
 * assignees); and the bulk `POST /api/conversations/update-status?channel=&agentId=`, which —
 * as documented — changes EVERY conversation of the workspace when no filter is given.
 */
export class SuperagentesEmulator extends Emulator {
  listShape: 'array' | 'data';
  autoCreateConversations: boolean;
  private readonly initialListShape: 'array' | 'data';
  private readonly byId = new Map<string, SuperagentesConversation>();
  /** Membership id → user. Empty = any assignee id is accepted (a user is invented). */
  private readonly members = new Map<string, { id: string; name: string }>();
  private readonly appliedUpdates: SuperagentesUpdate[] = [];
  private readonly appliedBulk: SuperagentesBulkUpdate[] = [];
  private nextId = 1;
  private lastStamp = 0;

  constructor(options: SuperagentesEmulatorOptions = {}) {
    super(
      'superagentes',
      [
        {
          name: 'list',
          method: 'GET',
          pattern: '/api/conversations',
          handle: ({ query }) => this.list(query),
        },
        {
          name: 'bulk-status',
          method: 'POST',
          pattern: '/api/conversations/update-status',
          handle: ({ query, body }) => this.bulkStatus(query, body),
        },
        {
          name: 'update',
          method: 'PATCH',
          pattern: '/api/conversations/:id',
          handle: ({ params, body }) => this.update(params.id ?? '', body),
        },
      ],
      bearerAuth(options.token, { status: 401, body: { message: 'Token de autenticação inválido' } }),
    );
    this.listShape = options.listShape ?? 'data';
    this.autoCreateConversations = options.autoCreateConversations ?? false;
    this.initialListShape = this.listShape;
  }

  /** Adds a conversation (defaults: whatsapp, UNRESOLVED, MEDIUM, no agent/title/assignees); returns a copy. */
  addConversation(options: AddConversationOptions): SuperagentesConversation {
    const id = options.id ?? `conversation-${this.nextId++}`;
    if (this.byId.has(id)) throw new Error(`superagentes emulator: conversation ${id} already exists`);
    const conversation: SuperagentesConversation = {
      id,
      channel: options.channel ?? 'whatsapp',
      channelExternalId: options.channelExternalId,
      agentId: options.agentId ?? null,
      status: options.status ?? 'UNRESOLVED',
      priority: options.priority ?? 'MEDIUM',
      title: options.title ?? null,
      assignees: structuredClone(options.assignees ?? []),
      updatedAt: options.updatedAt ?? this.stamp(),
    };
    this.byId.set(id, conversation);
    return structuredClone(conversation);
  }

  /** Declares an organization member; from then on only declared ids may be assigned. */
  addMember(id: string, name: string): void {
    this.members.set(id, { id: `user-${id}`, name });
  }

  conversation(id: string): SuperagentesConversation | undefined {
    const conversation = this.byId.get(id);
    return conversation && structuredClone(conversation);
  }

  /** Every conversation, in insertion order (copies). */
  conversations(): SuperagentesConversation[] {
    return structuredClone([...this.byId.values()]);
  }

  updates(): SuperagentesUpdate[] {
    return structuredClone(this.appliedUpdates);
  }

  bulkUpdates(): SuperagentesBulkUpdate[] {
    return structuredClone(this.appliedBulk);
  }

  /**
   * The conversation of a phone that a handoff touched: the one last changed by a PATCH; when
   * none was, the newest (by `updatedAt`) not-`RESOLVED` one — the one a handoff would pick. A copy.
   */
  conversationFor(phone: string): SuperagentesConversation | undefined {
    const patched = this.appliedUpdates.findLast((u) => this.byId.get(u.id)?.channelExternalId === phone);
    const conversation =
      (patched && this.byId.get(patched.id)) ??
      [...this.byId.values()]
        .filter((c) => c.channelExternalId === phone && c.status !== 'RESOLVED')
        .sort((a, b) => Date.parse(b.updatedAt) - Date.parse(a.updatedAt))[0];
    return conversation && structuredClone(conversation);
  }

  /**
   * The attendant marks the conversation resolved (the human is done): `status` becomes
   * `RESOLVED` and `updatedAt` moves on, as `GET /api/conversations` then shows. Throws for an
   * unknown id; returns a copy.
   */
  resolveConversation(id: string): SuperagentesConversation {
    const conversation = this.byId.get(id);
    if (!conversation) throw new Error(`superagentes emulator: no conversation ${id}`);
    conversation.status = 'RESOLVED';
    conversation.updatedAt = this.stamp();
    return structuredClone(conversation);
  }

  /** Also forgets conversations, members and recorded changes, and restores `listShape`. */
  override reset(): void {
    super.reset();
    this.byId.clear();
    this.members.clear();
    this.appliedUpdates.length = 0;
    this.appliedBulk.length = 0;
    this.nextId = 1;
    this.listShape = this.initialListShape;
  }

  override state(): unknown {
    return {
      listShape: this.listShape,
      conversations: this.conversations(),
      members: Object.fromEntries(this.members),
      updates: this.updates(),
      bulkUpdates: this.bulkUpdates(),
    };
  }

  /** `POST /__sandbox/conversations/<id>/resolve` → the resolved conversation (404 for an unknown id). */
  protected override controlAction(method: string, action: string): RouteResult | undefined {
    const resolve = method === 'POST' ? /^conversations\/([^/]+)\/resolve$/.exec(action) : null;
    if (!resolve) return undefined;
    const id = decodeURIComponent(resolve[1] ?? '');
    if (!this.byId.has(id)) return { status: 404, body: { message: 'Conversa não encontrada' } };
    return { status: 200, body: this.resolveConversation(id) };
  }

  /** Now as ISO, strictly after the previous stamp (so "newest updatedAt" is never a tie). */
  private stamp(): string {
    this.lastStamp = Math.max(Date.now(), this.lastStamp + 1);
    return new Date(this.lastStamp).toISOString();
  }

  private list(query: URLSearchParams): RouteResult {
    const externalId = query.get('channelExternalId') || undefined;
    if (this.autoCreateConversations && externalId && ![...this.byId.values()].some((c) => c.channelExternalId === externalId && c.status !== 'RESOLVED')) {
      // Sandbox mode: the customer's conversation exists as soon as someone looks for it.
      this.addConversation({ channelExternalId: externalId });
    }
    const data = [...this.byId.values()].filter((c) => externalId === undefined || c.channelExternalId === externalId);
    return { status: 200, body: this.listShape === 'array' ? data : { data } };
  }

  private update(id: string, body: unknown): RouteResult {
    const conversation = this.byId.get(id);
    if (!conversation) return { status: 404, body: { message: 'Conversa não encontrada' } };
    if (body === undefined) body = {};
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return invalid('Dados inválidos: o corpo deve ser um objeto JSON');
    const input = body as Record<string, unknown>;

    if (input.title !== undefined && input.title !== null && typeof input.title !== 'string') return invalid('Dados inválidos: title deve ser um texto');
    if (input.priority !== undefined && !SUPERAGENTES_PRIORITIES.includes(input.priority as SuperagentesPriority)) {
      return invalid('Dados inválidos: priority deve ser LOW, MEDIUM ou HIGH');
    }
    let assignees: SuperagentesAssignee[] | undefined;
    if (input.assigneeIds !== undefined) {
      if (!Array.isArray(input.assigneeIds) || !input.assigneeIds.every((a): a is string => typeof a === 'string' && a !== '')) {
        return invalid('Dados inválidos: assigneeIds deve ser uma lista de textos');
      }
      const ids = [...new Set(input.assigneeIds)];
      const unknown = this.members.size > 0 ? ids.filter((a) => !this.members.has(a)) : [];
      if (unknown.length > 0) return invalid(`Dados inválidos: membro não encontrado: ${unknown.join(', ')}`);
      assignees = ids.map((a) => ({ id: a, user: { ...(this.members.get(a) ?? { id: `user-${a}`, name: a }) } }));
    }

    const record: SuperagentesUpdate = { id, at: '' };
    if (input.title !== undefined) conversation.title = record.title = input.title;
    if (input.priority !== undefined) conversation.priority = record.priority = input.priority as SuperagentesPriority;
    if (assignees) {
      conversation.assignees = assignees;
      record.assigneeIds = assignees.map((a) => a.id);
    }
    conversation.updatedAt = record.at = this.stamp();
    this.appliedUpdates.push(record);
    const { title, priority, updatedAt } = conversation;
    return { status: 200, body: { id, title, priority, updatedAt, assignees: structuredClone(conversation.assignees) } };
  }

  private bulkStatus(query: URLSearchParams, body: unknown): RouteResult {
    const status = body !== null && typeof body === 'object' ? (body as Record<string, unknown>).status : undefined;
    if (!SUPERAGENTES_STATUSES.includes(status as SuperagentesStatus)) {
      return invalid('Dados inválidos: status deve ser UNRESOLVED, RESOLVED ou HUMAN_REQUESTED');
    }
    // An empty value counts as no filter — like a missing one, it widens the change to everything.
    const channel = query.get('channel') || undefined;
    const agentId = query.get('agentId') || undefined;
    if (channel !== undefined && !SUPERAGENTES_CHANNELS.includes(channel as SuperagentesChannel)) {
      return invalid(`Dados inválidos: canal não suportado: ${channel}`);
    }

    const matching = [...this.byId.values()].filter(
      (c) => (channel === undefined || c.channel === channel) && (agentId === undefined || c.agentId === agentId),
    );
    const at = this.stamp();
    for (const conversation of matching) {
      conversation.status = status as SuperagentesStatus;
      conversation.updatedAt = at;
    }
    const record: SuperagentesBulkUpdate = { status: status as SuperagentesStatus, count: matching.length, ids: matching.map((c) => c.id), at };
    if (channel !== undefined) record.channel = channel as SuperagentesChannel;
    if (agentId !== undefined) record.agentId = agentId;
    this.appliedBulk.push(record);
    return { status: 200, body: { count: matching.length, message: `${matching.length} conversas foram atualizadas com sucesso` } };
  }
}
