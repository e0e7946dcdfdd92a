import { describe, expect, it } from 'vitest';
import { ninthDigitKey, otherNinthDigitForm } from '../../src/identity/brazil.js';
import { CUSTOMER_KEY } from '../../src/identity/key.js';

describe('the Brazilian ninth digit (SPEC §11)', () => {
  it.each([
    // [digits, key, the other form]
    ['5511987654321', '5511987654321', '551187654321'], // São Paulo mobile, 13 digits
    ['551187654321', '5511987654321', '5511987654321'], // the same, 8-digit form
    ['556299998888', '5562999998888', '5562999998888'], // Goiânia, 8 digits starting with 9
    ['556276543210', '5562976543210', '5562976543210'], // a mobile starting with 7
    ['556266543210', '5562966543210', '5562966543210'], // …with 6
  ])('%s → key %s, other form %s', (digits, key, other) => {
    expect(ninthDigitKey(digits)).toBe(key);
    expect(otherNinthDigitForm(digits)).toBe(other);
  });

  it.each([
    ['551132654321', 'a São Paulo landline (starts with 3)'],
    ['556225554444', 'a landline starting with 2'],
    ['555145554444', 'a landline starting with 4'],
    ['550187654321', 'an area code with a zero'],
    ['15551234567', 'a US number'],
    ['351912345678', 'a Portuguese mobile'],
    ['5511876543210', '13 digits without the 9 after the area code'],
    ['55118765432', '11 digits'],
    ['55119876543210', '14 digits'],
  ])('%s (%s) is left as it is, with no other form', (digits) => {
    expect(ninthDigitKey(digits)).toBe(digits);
    expect(otherNinthDigitForm(digits)).toBeNull();
  });

  it('customer keys: phones, LIDs, business-scoped user IDs (parent ones too)', () => {
    for (const key of ['5511987654321', 'lid:123456789012345', 'BR.1502576394655843', 'US.ENT.11815799212886844830']) expect(CUSTOMER_KEY.test(key)).toBe(true);
    for (const key of ['', '123', 'lid:', 'lid:abc', 'br.123', '5511987654321@s.whatsapp.net', '{x}']) expect(CUSTOMER_KEY.test(key)).toBe(false);
  });
});
