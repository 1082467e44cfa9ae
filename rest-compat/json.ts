/**
 * JSON for REST bodies. Money is exact in GraphQL ("12.500000"); the documents show numbers
 * (`"remaining": 42.5`), so amounts are written as JSON numbers from their decimal text,
 * never through a float.
 */
export class ExactNumber {
  constructor(readonly text: string) {}
}

/** "12.500000" → 12.5 in the JSON text; null stays null. */
export function num(decimal: string | null | undefined): ExactNumber | null {
  if (decimal === null || decimal === undefined) return null;
  let text = decimal.includes('.') ? decimal.replace(/0+$/, '').replace(/\.$/, '') : decimal;
  if (text === '-0') text = '0';
  return new ExactNumber(text);
}

/** Database ids are integers; GraphQL carries them as ID strings. */
export const int = (id: string): number => Number(id);
export const intOrNull = (id: string | null | undefined): number | null => (id === null || id === undefined ? null : Number(id));

/** ISO-8601 in UTC, whole seconds, as the documents show ("2026-03-28T12:00:00Z"). */
export function iso(timestamp: string): string;
export function iso(timestamp: string | null | undefined): string | null;
export function iso(timestamp: string | null | undefined): string | null {
  return timestamp ? new Date(timestamp).toISOString().replace(/\.\d{3}Z$/, 'Z') : null;
}

/** The documents' boolean flags are 1 / 0 ("active": 1). */
export const flag = (value: boolean): 0 | 1 => (value ? 1 : 0);

export function toJson(value: unknown): string {
  if (value instanceof ExactNumber) return value.text;
  if (value === null || value === undefined || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(toJson).join(',')}]`;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(value)) if (v !== undefined) parts.push(`${JSON.stringify(k)}:${toJson(v)}`);
  return `{${parts.join(',')}}`;
}
