import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { githubToken, seededRandom, signedJwt } from './sample-credentials.js';
import {
  base62,
  crc32,
  crc32ForTest,
  decodeBasicCredentials,
  githubTokenChecksumValid,
  ibanValid,
  looksLikePlaceholder,
  luhnValid,
  parseJwt,
  shannonEntropy,
} from './validators.js';

describe('luhn', () => {
  it('accepts valid card numbers and rejects a changed digit', () => {
    for (const n of ['4111111111111111', '5555555555554444', '378282246310005', '6011111111111117', '4012888888881881']) expect(luhnValid(n)).toBe(true);
    for (const n of ['4111111111111112', '5555555555554440', '378282246310006', '']) expect(luhnValid(n)).toBe(false);
    expect(luhnValid('4111 1111')).toBe(false); // callers strip separators
  });
});

describe('IBAN mod-97', () => {
  it('accepts valid IBANs of several countries', () => {
    for (const iban of ['DE89370400440532013000', 'GB82WEST12345698765432', 'FR1420041010050500013M02606', 'NL91ABNA0417164300', 'NO9386011117947', 'MT84MALT011000012345MTLCAST001S']) {
      expect(ibanValid(iban), iban).toBe(true);
    }
  });

  it('rejects wrong check digits, wrong lengths and unknown countries', () => {
    expect(ibanValid('DE89370400440532013001')).toBe(false);
    expect(ibanValid('DE8937040044053201300')).toBe(false); // 21 characters, Germany has 22
    expect(ibanValid('ZZ89370400440532013000')).toBe(false);
    expect(ibanValid('de89370400440532013000')).toBe(false);
  });
});

describe('CRC32 and GitHub token checksums', () => {
  it('matches zlib, with the table fallback too', () => {
    for (const text of ['', 'hello', 'M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq', 'ünïcödé']) {
      const expected = zlib.crc32(text) >>> 0;
      expect(crc32(text)).toBe(expected);
      expect(crc32ForTest.table(text)).toBe(expected);
    }
  });

  it('encodes base62 with GitHub alphabet and padding', () => {
    expect(base62(0, 6)).toBe('000000');
    expect(base62(61, 1)).toBe('z');
    expect(base62(62, 2)).toBe('10');
  });

  it('validates the checksum in the last 6 characters', () => {
    // Published test vectors (Datadog sensitive data scanner).
    expect(githubTokenChecksumValid('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')).toBe(true);
    expect(githubTokenChecksumValid('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')).toBe(true);
    expect(githubTokenChecksumValid('ghp_M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq11T4V3')).toBe(false);
    expect(githubTokenChecksumValid('ghp_M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq11T4V')).toBe(false);
    const random = seededRandom(7);
    for (let i = 0; i < 100; i++) expect(githubTokenChecksumValid(githubToken(random, 'gho_'))).toBe(true);
  });
});

describe('entropy', () => {
  it('is 0 for one repeated character and log2(n) for n distinct ones', () => {
    expect(shannonEntropy('')).toBe(0);
    expect(shannonEntropy('aaaa')).toBe(0);
    expect(shannonEntropy('abcd')).toBeCloseTo(2, 10);
    expect(shannonEntropy('0123456789abcdef')).toBeCloseTo(4, 10);
  });
});

describe('placeholders', () => {
  it('recognises templates, samples and runs of one character', () => {
    for (const value of ['${DB_PASSWORD}', '{{ secrets.token }}', '<your-token>', '%s', '$API_KEY', 'AKIAIOSFODNN7EXAMPLE', 'sk_test_XXXXXXXXXXXXXXXX', 'your_api_key_here', 'xoxb-not-a-real-token', 'changeme', '********', 'null', 'true', '[REDACTED:jwt]', 'aaaaaaaaaaaa', 'sk_test_fake_key_123', 'abababab']) {
      expect(looksLikePlaceholder(value), value).toBe(true);
    }
  });

  it('does not flag random tokens, even ones containing short words', () => {
    for (const value of ['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', 'glpat-n6VSPNxHVf3fakefzccK', 'ya29.HguYOUR_GjwUEG_rc0LAZnlF', 'hunter2', 'S3cr3t!pw']) {
      expect(looksLikePlaceholder(value), value).toBe(false);
    }
  });
});

describe('JWT parsing', () => {
  it('parses a signed JWT and a JWE header', () => {
    const token = signedJwt({ sub: 'svc', iat: 1 });
    expect(parseJwt(token)).toEqual({ header: { alg: 'HS256', typ: 'JWT' }, payload: { sub: 'svc', iat: 1 } });
    const jweHeader = Buffer.from(JSON.stringify({ alg: 'RSA-OAEP', enc: 'A256GCM' })).toString('base64url');
    expect(parseJwt(`${jweHeader}.a.b.c.d`)?.payload).toBeUndefined();
  });

  it('rejects anything that is not a JWT, without throwing', () => {
    const noAlg = `${Buffer.from('{"typ":"JWT"}').toString('base64url')}.${Buffer.from('{}').toString('base64url')}.x`;
    for (const value of ['a.b.c', 'eyJhbGciOi.eyJ.x', noAlg, `${Buffer.from('[1]').toString('base64url')}.e30.x`, 'eyJ%%%.eyJ.x', '', '....']) {
      expect(parseJwt(value), value).toBeUndefined();
    }
  });
});

describe('HTTP Basic credentials', () => {
  it('decodes user:password', () => {
    expect(decodeBasicCredentials(Buffer.from('svc-orders:s3cret').toString('base64'))).toEqual({ user: 'svc-orders', password: 's3cret' });
    // An API key as the user name with an empty password (Stripe's convention).
    expect(decodeBasicCredentials(Buffer.from('sk_live_abcdefghijklmnop:').toString('base64'))?.user).toBe('sk_live_abcdefghijklmnop');
  });

  it('rejects text without a colon, an empty user, binary and non-base64', () => {
    for (const raw of ['nocolon', ':password', 'ab:']) expect(decodeBasicCredentials(Buffer.from(raw).toString('base64')), raw).toBeUndefined();
    expect(decodeBasicCredentials(Buffer.from([0xff, 0x00, 0x3a, 0x01]).toString('base64'))).toBeUndefined();
    expect(decodeBasicCredentials('not base64!')).toBeUndefined();
    expect(decodeBasicCredentials('authentication')).toBeUndefined();
  });
});
