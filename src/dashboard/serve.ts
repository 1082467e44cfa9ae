import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The live dashboard: a few static files, read once when this module loads, served from
 * memory at /dashboard. The graphql-ws client is the package's own browser build (UMD,
 * defines `graphqlWs`), so the page speaks the protocol through the same library as the server.
 */

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

const here = path.dirname(fileURLToPath(import.meta.url));
// graphql-ws's `exports` map hides umd/; its CommonJS entry (dist/index.cjs) locates the package.
const graphqlWsRoot = path.resolve(path.dirname(createRequire(import.meta.url).resolve('graphql-ws')), '..');

function asset(file: string, type: string): Asset {
  const body = readFileSync(file);
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

const page = asset(path.join(here, 'index.html'), 'text/html; charset=utf-8');
const assets = new Map<string, Asset>([
  ['/dashboard', page],
  ['/dashboard/', page],
  ['/dashboard/dashboard.js', asset(path.join(here, 'dashboard.js'), 'text/javascript; charset=utf-8')],
  ['/dashboard/dashboard.css', asset(path.join(here, 'dashboard.css'), 'text/css; charset=utf-8')],
  ['/dashboard/graphql-ws.js', asset(path.join(graphqlWsRoot, 'umd', 'graphql-ws.min.js'), 'text/javascript; charset=utf-8')],
]);

/** Same origin only: scripts, styles, fetch and the WebSocket; no inline code, no framing, no form posts. */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
};

export const isDashboardPath = (p: string): boolean => p === '/dashboard' || p.startsWith('/dashboard/');

/**
 * Answers GET/HEAD for the dashboard's files. Every file is revalidated (`no-cache` + ETag, 304
 * when unchanged), so a new release never pairs a fresh page with a stale script.
 */
export function serveDashboard(req: IncomingMessage, res: ServerResponse, pathname: string): void {
  const file = assets.get(pathname);
  if (!file) {
    res.writeHead(404, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    res.end('Not found\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { ...SECURITY_HEADERS, allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    res.end('Method not allowed\n');
    return;
  }
  const headers = { ...SECURITY_HEADERS, 'cache-control': 'no-cache', etag: file.etag };
  const match = req.headers['if-none-match'];
  if (match && match.split(',').some((tag) => tag.trim() === file.etag)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, 'content-type': file.type, 'content-length': file.body.length });
  res.end(req.method === 'HEAD' ? undefined : file.body);
}
