import { randomBytes } from 'node:crypto';
import { evolutionUpsert } from '../../src/sandbox/evolution.js';
import { metaEnvelope, metaJson, metaSignature, metaText } from '../../src/sandbox/whatsapp.js';

const RUN = randomBytes(4).toString('hex');
let counter = 0;

export interface LoadTarget {
  url: string;
  path: string;
  /**
   * `webhook`: the §3 JSON body with a Bearer token; `toolzz`: a Toolzz send-message body;
   * `whatsapp`: a Meta delivery of one text message, signed with `secret`
   * (`X-Hub-Signature-256`); `evolution`: an Evolution v2 `messages.upsert` of one text, with
   * `Authorization: Bearer <token>`.
   */
  kind: 'webhook' | 'toolzz' | 'whatsapp' | 'evolution';
  token?: string;
  /** App secret (`whatsapp`). */
  secret?: string;
  /** `whatsapp`: metadata.phone_number_id; `evolution`: the instance name. */
  account?: string;
  phones?: 'unique' | number;
  /**
   * Customer numbers are `55<base>9<n>`: `base` (10-99) defaults to one derived from the
   * load process's pid (new customers per process); give one to reuse the same customers
   * across load processes (warm-up, then runs of returning customers).
   */
  customerBase?: number;
  /** Messages in a row per customer (bursts, for debounce); default 1. */
  burst?: number;
}

export interface LoadRequest {
  body: string;
  headers: Record<string, string>;
  /** Unique per message (`<run>-<n>`): the first word of its text, so the bot's reply carries it. */
  tag: string;
}

function customer(target: LoadTarget): string {
  const phones = target.phones ?? 'unique';
  const burst = Math.max(1, target.burst ?? 1);
  const n = Math.floor((counter - 1) / burst);
  const index = phones === 'unique' ? n : n % phones;
  const base = target.customerBase ?? (process.pid % 90) + 10;
  return `55${String(base)}9${String(index).padStart(8, '0')}`.slice(0, 15);
}

/**
 * Webhook bodies: a unique messageId each; the customer is either unique per request
 * (`phones: 'unique'`) or drawn from a pool of that many customers.
 */
export function webhookBody(target: LoadTarget): string {
  return `{"messageId":"bench-${RUN}-${counter}","contact":{"phone":"${customer(target)}","name":"Bench"},"text":"Olá, quero saber do meu pedido ${counter}"}`;
}

/** A Toolzz send-message body (for calling the emulator directly). */
export function toolzzBody(): string {
  return `{"message":"Olá, quero saber do meu pedido ${counter}","botId":"6b3c9f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"}`;
}

/** One request of the target's kind: a fresh message (unique id and tag) each call. */
export function makeRequest(target: LoadTarget): LoadRequest {
  counter += 1;
  const tag = `${RUN}-${counter}`;
  // The tag first: the bench Toolzz emulator answers `ok: <first 20 characters>`.
  const text = `${tag} Olá, quero saber do meu pedido`;
  switch (target.kind) {
    case 'toolzz':
      return { body: toolzzBody(), headers: { 'content-type': 'application/json', authorization: `Bearer ${target.token ?? 'bench'}` }, tag };
    case 'webhook':
      return { body: webhookBody(target), headers: { 'content-type': 'application/json', authorization: `Bearer ${target.token ?? 'bench'}` }, tag };
    case 'whatsapp': {
      const from = customer(target);
      // As Meta puts it on the wire (non-ASCII escaped), signed over exactly these bytes.
      const body = metaJson(metaEnvelope({ phoneNumberId: target.account ?? '', messages: [metaText(from, text, `wamid.bench${RUN}${counter}`)] }));
      return { body, headers: { 'content-type': 'application/json', 'x-hub-signature-256': metaSignature(target.secret ?? '', body) }, tag };
    }
    case 'evolution': {
      const phone = customer(target);
      const body = JSON.stringify(evolutionUpsert({ instance: target.account ?? 'loja', phone, id: `BENCH${RUN.toUpperCase()}${counter}`, text, instanceId: RUN }));
      return { body, headers: { 'content-type': 'application/json', authorization: `Bearer ${target.token ?? 'bench'}` }, tag };
    }
  }
}
