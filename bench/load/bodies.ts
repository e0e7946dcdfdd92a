import { randomBytes } from 'node:crypto';

const RUN = randomBytes(4).toString('hex');
let counter = 0;

/**
 * Webhook bodies: a unique messageId each; the customer is either unique per request
 * (`phones: 'unique'`) or drawn from a pool of that many customers.
 */
export function webhookBody(phones: 'unique' | number): string {
  counter += 1;
  const customer = phones === 'unique' ? counter : counter % phones;
  const phone = `55${String(process.pid % 90 + 10)}9${String(customer).padStart(8, '0')}`.slice(0, 15);
  return `{"messageId":"bench-${RUN}-${counter}","contact":{"phone":"${phone}","name":"Bench"},"text":"Olá, quero saber do meu pedido ${counter}"}`;
}

/** A Toolzz send-message body (for calling the emulator directly). */
export function toolzzBody(): string {
  counter += 1;
  return `{"message":"Olá, quero saber do meu pedido ${counter}","botId":"6b3c9f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"}`;
}

export interface LoadTarget {
  url: string;
  path: string;
  kind: 'webhook' | 'toolzz';
  token?: string;
  phones?: 'unique' | number;
}

export function makeBody(target: LoadTarget): string {
  return target.kind === 'toolzz' ? toolzzBody() : webhookBody(target.phones ?? 'unique');
}

export function headersFor(target: LoadTarget): Record<string, string> {
  return { 'content-type': 'application/json', authorization: `Bearer ${target.token ?? 'bench'}` };
}
