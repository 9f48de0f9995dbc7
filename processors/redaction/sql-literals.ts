/**
 * Replaces the literals of SQL text by `?`, keeping its structure readable:
 * `SELECT * FROM users WHERE email = 'a@b.c' AND id = 42` → `SELECT * FROM users WHERE email = ? AND id = ?`.
 *
 * One linear pass that understands what can hide a literal: '…' strings with '' escapes, E'…'
 * (backslash escapes), N'…', X'…', B'…', PostgreSQL dollar quoting ($$…$$, $tag$…$tag$), and
 * numbers (decimal, exponent, hex). Quoted identifiers ("…", `…`), comments, bind parameters
 * ($1, :name, ?, @p) and digits inside identifiers (t1, col_2) are kept. An unterminated literal
 * runs to the end of the text, so a truncated statement never leaks its tail. Stateless.
 */

function isIdentifierChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 36 || c >= 128;
}

/** Characters after which a digit belongs to a name or a bind parameter, not a number. */
function continuesName(c: number): boolean {
  return isIdentifierChar(c) || c === 58 /* : */ || c === 64 /* @ */ || c === 63 /* ? */ || c === 35 /* # */ || c === 46; /* . */
}

const NUMBER = /0[xX][0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?/y;
const DOLLAR_TAG = /\$(?:[A-Za-z_][A-Za-z0-9_]{0,62})?\$/y;

/**
 * Returns `sql` with every literal replaced by `?`. The literals' contents are appended to
 * `literals` when given (the redactor scans them for findings).
 */
export function replaceSqlLiterals(sql: string, literals?: string[]): string {
  const parts: string[] = [];
  let copied = 0;
  let i = 0;
  const n = sql.length;
  const replace = (from: number, to: number, content: string) => {
    parts.push(sql.slice(copied, from), '?');
    literals?.push(content);
    copied = to;
  };
  while (i < n) {
    const c = sql.charCodeAt(i);
    if (c === 39 /* ' */) {
      // A one-letter prefix (E, N, X, B) glued to the quote and not ending a longer name.
      const prefix = i > 0 ? sql.charCodeAt(i - 1) | 0x20 : 0;
      const prefixed = (prefix === 0x65 || prefix === 0x6e || prefix === 0x78 || prefix === 0x62) && (i < 2 || !isIdentifierChar(sql.charCodeAt(i - 2)));
      const backslashEscapes = prefixed && prefix === 0x65;
      let j = i + 1;
      while (j < n) {
        const d = sql.charCodeAt(j);
        if (backslashEscapes && d === 92 /* \ */) j += 2;
        else if (d === 39) {
          if (sql.charCodeAt(j + 1) === 39) j += 2;
          else break;
        } else j++;
      }
      const end = Math.min(j + 1, n);
      replace(prefixed ? i - 1 : i, end, sql.slice(i + 1, Math.min(j, n)));
      i = end;
      continue;
    }
    if (c === 36 /* $ */ && (i === 0 || !isIdentifierChar(sql.charCodeAt(i - 1)))) {
      DOLLAR_TAG.lastIndex = i;
      const tag = DOLLAR_TAG.exec(sql)?.[0];
      if (tag !== undefined) {
        const close = sql.indexOf(tag, i + tag.length);
        const end = close < 0 ? n : close + tag.length;
        replace(i, end, sql.slice(i + tag.length, close < 0 ? n : close));
        i = end;
        continue;
      }
    }
    if (c === 34 /* " */ || c === 96 /* ` */) {
      const close = sql.indexOf(String.fromCharCode(c), i + 1);
      i = close < 0 ? n : close + 1;
      continue;
    }
    if (c === 45 /* - */ && sql.charCodeAt(i + 1) === 45) {
      const close = sql.indexOf('\n', i);
      i = close < 0 ? n : close + 1;
      continue;
    }
    if (c === 47 /* / */ && sql.charCodeAt(i + 1) === 42 /* * */) {
      const close = sql.indexOf('*/', i + 2);
      i = close < 0 ? n : close + 2;
      continue;
    }
    if (c >= 48 && c <= 57 && (i === 0 || !continuesName(sql.charCodeAt(i - 1)))) {
      NUMBER.lastIndex = i;
      const number = NUMBER.exec(sql)![0];
      const end = i + number.length;
      if (end >= n || !isIdentifierChar(sql.charCodeAt(end))) {
        replace(i, end, number);
        i = end;
        continue;
      }
      // `1st`, `3d`: part of a name after all.
      while (i < n && isIdentifierChar(sql.charCodeAt(i))) i++;
      continue;
    }
    i++;
  }
  if (copied === 0) return sql;
  parts.push(sql.slice(copied));
  return parts.join('');
}
