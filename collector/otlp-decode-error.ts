/**
 * The one error the OTLP decoders throw for malformed input (protobuf or JSON), so the receiver can
 * answer 400 / INVALID_ARGUMENT for exactly these and treat anything else as a server fault.
 *
 * Messages name the problem and where it is (a byte offset or a JSON path). They may quote a short
 * excerpt of the offending value, never more than {@link MAX_EXCERPT_CHARS} characters of it:
 * request bodies can carry secrets, and these messages end up in logs and client responses.
 */

export class OtlpDecodeError extends Error {
  override readonly name = 'OtlpDecodeError';
}

export const MAX_EXCERPT_CHARS = 32;

/** A JSON-quoted excerpt of untrusted text, cut to {@link MAX_EXCERPT_CHARS} characters. */
export function quoteExcerpt(value: string): string {
  if (value.length <= MAX_EXCERPT_CHARS) return JSON.stringify(value);
  return `${JSON.stringify(value.slice(0, MAX_EXCERPT_CHARS))}... (${value.length} characters)`;
}
