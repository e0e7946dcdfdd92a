/**
 * The Brazilian ninth digit (SPEC §11): mobile numbers gained a `9` after the area code, but
 * older WhatsApp accounts keep the 8-digit form while people type and CRMs store the 9-digit
 * one. `55` + a two-digit area code + 8 digits starting with 6, 7, 8 or 9 (a mobile number;
 * landlines start with 2 to 5) and the same number with the `9` inserted are one customer,
 * whose key is the 13-digit form. Pure.
 */

/** 55 + area (no zero digit) + 8-digit mobile number. */
const EIGHT_DIGIT_MOBILE = /^55([1-9]{2})([6-9]\d{7})$/;
/** 55 + area + 9 + 8-digit mobile number. */
const NINE_DIGIT_MOBILE = /^55([1-9]{2})9([6-9]\d{7})$/;

/** The 13-digit form of a Brazilian mobile number (either form in), else the digits unchanged. */
export function ninthDigitKey(digits: string): string {
  const eight = EIGHT_DIGIT_MOBILE.exec(digits);
  return eight ? `55${eight[1]}9${eight[2]}` : digits;
}

/** The other form of a Brazilian mobile number (12 ↔ 13 digits), or null for any other number. */
export function otherNinthDigitForm(digits: string): string | null {
  const eight = EIGHT_DIGIT_MOBILE.exec(digits);
  if (eight) return `55${eight[1]}9${eight[2]}`;
  const nine = NINE_DIGIT_MOBILE.exec(digits);
  return nine ? `55${nine[1]}${nine[2]}` : null;
}
