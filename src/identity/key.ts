/**
 * A customer key (SPEC §11): the phone's digits (the 13-digit form of a Brazilian mobile),
 * `lid:<digits>` for a WhatsApp LID never seen with a phone, or a business-scoped user ID for a
 * Cloud API customer known only by it. It names the customer's conversation and every key of
 * its slot; `phone` fields of conversation refs, jobs and records hold it.
 */
export const CUSTOMER_KEY = /^(\d{10,15}|lid:\d{1,32}|[A-Z]{2}\.[A-Za-z0-9._-]{1,128})$/;

/** A LID as an address of the admin API and of `aliases`. */
export const lidAddress = (digits: string) => `lid:${digits}`;

/** True when a customer key is a phone's digits (a platform can be given it). */
export const isPhoneKey = (key: string) => /^\d{10,15}$/.test(key);

/** A business-scoped user ID (`BR.1502576394655843`). */
export const isBsuid = (address: string) => /^[A-Z]{2}\.[A-Za-z0-9._-]{1,128}$/.test(address);
