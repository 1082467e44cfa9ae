import type { OpenApiDocument, OpenApiOperation } from './openapi.js';

/**
 * The API reference at /docs: one self-contained HTML page rendered from the OpenAPI document
 * (so from the route table), with no script and nothing loaded from elsewhere.
 */

type Schema = {
  type?: string;
  nullable?: boolean;
  enum?: unknown[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  additionalProperties?: Schema | boolean;
  anyOf?: Schema[];
  description?: string;
  $ref?: string;
  example?: unknown;
};

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** A sample value that shows the shape of a schema. */
function sample(schema: Schema | undefined, depth = 0): unknown {
  if (!schema || depth > 8) return null;
  if (schema.example !== undefined) return schema.example;
  if (schema.enum?.length) return schema.enum[0];
  if (schema.anyOf?.length) return sample(schema.anyOf.find((s) => s.type !== 'null') ?? schema.anyOf[0], depth + 1);
  switch (schema.type) {
    case 'object': {
      if (schema.properties) return Object.fromEntries(Object.entries(schema.properties).map(([k, v]) => [k, sample(v, depth + 1)]));
      if (schema.additionalProperties && typeof schema.additionalProperties === 'object') return { '<key>': sample(schema.additionalProperties, depth + 1) };
      return {};
    }
    case 'array':
      return [sample(schema.items, depth + 1)];
    case 'integer':
      return 1;
    case 'number':
      return 42.5;
    case 'boolean':
      return true;
    case 'string':
      return 'string';
    default:
      return null;
  }
}

const typeOf = (s: Schema): string =>
  s.enum ? s.enum.map((v) => JSON.stringify(v)).join(' | ') : `${s.type === 'array' ? `${typeOf(s.items ?? {})}[]` : (s.type ?? 'any')}${s.nullable ? ' | null' : ''}`;

function fieldsTable(schema: Schema): string {
  const rows = Object.entries(schema.properties ?? {})
    .map(([name, s]) => `<tr><td><code>${escape(name)}</code></td><td>${escape(typeOf(s))}</td><td>${schema.required?.includes(name) ? 'yes' : 'no'}</td></tr>`)
    .join('');
  return rows ? `<table><tr><th>Field</th><th>Type</th><th>Required</th></tr>${rows}</table>` : '';
}

function operationHtml(method: string, path: string, op: OpenApiOperation, server: string): string {
  const params = (op.parameters ?? []).filter((p) => p.in !== 'header');
  const paramRows = params
    .map((p) => `<tr><td><code>${escape(p.name)}</code></td><td>${p.in}</td><td>${escape(typeOf(p.schema as Schema))}</td><td>${escape(p.description ?? '')}</td></tr>`)
    .join('');
  const body = op.requestBody?.content['application/json'].schema as Schema | undefined;
  const response = op.responses['200']?.content?.['application/json'].schema as Schema | undefined;
  const curl = [
    `curl -X ${method.toUpperCase()} "${server}${path}"`,
    ...(op.security ? ['-H "Authorization: Bearer VOTRE_CLE_API"'] : []),
    ...(body ? ['-H "Content-Type: application/json"', `-d '${JSON.stringify(sample(body))}'`] : []),
  ].join(' \\\n  ');
  const errors = Object.keys(op.responses).filter((c) => c !== '200' && c !== 'default');
  return `<section class="op" id="${escape(op.operationId)}">
<h3><span class="m ${method}">${method.toUpperCase()}</span> <code>${escape(path)}</code></h3>
<p>${escape(op.summary)}${op.security ? ' <span class="auth">API key</span>' : ''}</p>
${op.description ? `<p>${escape(op.description)}</p>` : ''}
${paramRows ? `<h4>Parameters</h4><table><tr><th>Name</th><th>In</th><th>Type</th><th>Description</th></tr>${paramRows}</table>` : ''}
${body ? `<h4>Body</h4>${fieldsTable(body)}` : ''}
<h4>Response 200</h4><pre>${escape(JSON.stringify(sample(response), null, 2))}</pre>
<p class="errors">Errors: ${errors.map((c) => `<code>${c}</code>`).join(' ')}</p>
<pre>${escape(curl)}</pre>
</section>`;
}

export function renderDocs(doc: OpenApiDocument): string {
  const server = doc.servers[0]?.url ?? '';
  const sections = doc.tags
    .map((tag) => {
      const ops = Object.entries(doc.paths).flatMap(([path, methods]) =>
        Object.entries(methods)
          .filter(([, op]) => op.tags.includes(tag.name))
          .map(([method, op]) => operationHtml(method, path, op, server)),
      );
      return `<h2 id="${escape(tag.name)}">${escape(tag.name)}</h2>${tag.description ? `<p>${escape(tag.description)}</p>` : ''}${ops.join('\n')}`;
    })
    .join('\n');
  const toc = doc.tags.map((t) => `<li><a href="#${escape(t.name)}">${escape(t.name)}</a></li>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(doc.info.title)}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#1d2330}
code,pre{font-family:ui-monospace,monospace;font-size:13px}pre{background:#f4f5f7;padding:.8em;overflow:auto;border-radius:6px}
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #dde;padding:.25em .6em;text-align:left}
.op{border-top:1px solid #e3e5ea;padding-top:.4em}.m{display:inline-block;min-width:4.5em;text-align:center;color:#fff;border-radius:4px;font-size:13px;padding:0 .3em}
.get{background:#2f7d32}.post{background:#1565c0}.put{background:#ef6c00}.patch{background:#6a1b9a}.delete{background:#c62828}
.auth{font-size:12px;background:#fff3cd;border-radius:4px;padding:0 .4em}.errors{color:#555}
</style></head><body>
<h1>${escape(doc.info.title)}</h1>
<p>${escape(doc.info.description)}</p>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI ${escape(doc.openapi)}). Server: <code>${escape(server)}</code></p>
<ul>${toc}</ul>
${sections}
</body></html>
`;
}
