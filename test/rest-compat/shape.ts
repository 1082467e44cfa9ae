import { readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';

/** The reference document's examples, curl commands and embedded OpenAPI (fixtures/leproxy-doc.json). */
export const leproxyDoc = JSON.parse(readFileSync(new URL('./fixtures/leproxy-doc.json', import.meta.url), 'utf8')) as {
  examples: Record<string, unknown>;
  curls: string[];
  openapi: { paths: Record<string, Record<string, { requestBody?: { content: { 'application/json': { schema: JsonSchema } } }; parameters?: { name: string; in: string; schema: JsonSchema }[] }>> };
};

export interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
}

/** Where the document is silent on a part of the shape, how a route's test reads it. */
export interface ShapeRules {
  /** Paths whose documented value is `{}` (or absent), with the shape they have. */
  expand?: Record<string, unknown>;
  /** Objects keyed by data (dates, labels, codes): every value has the shape of the documented first one. */
  maps?: string[];
  /** Paths whose documented value is a string or number but that are null when the data has none. */
  nullable?: string[];
}

const kind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

/**
 * Compares a response with a documented example, field by field: every documented field is
 * present with the documented JSON type, and nothing undocumented is there. A documented null
 * says nothing about the type (a limit is null or a number).
 */
export function shapeProblems(actual: unknown, documented: unknown, rules: ShapeRules = {}, path = '$'): string[] {
  const expanded = path in (rules.expand ?? {}) ? rules.expand![path] : documented;
  if (expanded === null) return [];
  if (actual === null && rules.nullable?.includes(path)) return [];
  if (kind(actual) !== kind(expanded)) return [`${path}: ${kind(actual)} where the document shows ${kind(expanded)}`];
  if (Array.isArray(expanded)) {
    if (!expanded.length) return [];
    return (actual as unknown[]).flatMap((item) => shapeProblems(item, expanded[0], rules, `${path}[]`));
  }
  if (kind(expanded) !== 'object') return [];
  const doc = expanded as Record<string, unknown>;
  const got = actual as Record<string, unknown>;
  if (rules.maps?.includes(path)) {
    const sample = Object.values(doc)[0];
    return Object.entries(got).flatMap(([, v]) => shapeProblems(v, sample, rules, `${path}{}`));
  }
  if (!Object.keys(doc).length && !(path in (rules.expand ?? {}))) return [];
  const problems: string[] = [];
  for (const key of Object.keys(doc)) {
    if (!(key in got)) problems.push(`${path}.${key}: missing`);
    else problems.push(...shapeProblems(got[key], doc[key], rules, `${path}.${key}`));
  }
  for (const key of Object.keys(got)) if (!(key in doc)) problems.push(`${path}.${key}: not in the document`);
  return problems;
}

/** Runs a shell command line (a documented curl), returning the body and the status curl printed last. */
export function runCurl(commandLine: string): Promise<{ status: number; body: string; stderr: string }> {
  const withStatus = commandLine.replace(/^curl /, `curl --silent --show-error --max-time 20 -w '\\n%{http_code}' `);
  return new Promise((resolve) => {
    execFile('bash', ['-c', withStatus], { maxBuffer: 8 * 1024 * 1024 }, (_err, stdout, stderr) => {
      const cut = stdout.lastIndexOf('\n');
      resolve({ status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut), stderr });
    });
  });
}

/** ISO-8601 UTC, whole seconds, as documented: 2026-03-28T12:00:00Z. */
export const ISO_Z = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
