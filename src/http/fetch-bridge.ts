import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { BodyTooLargeError, MAX_BODY_BYTES, readBody } from './body.js';

/** Builds a Fetch Request from a Node request, with the body read under the size limit. */
export async function toFetchRequest(req: IncomingMessage, baseUrl: string, limit = MAX_BODY_BYTES): Promise<Request> {
  const url = new URL(req.url ?? '/', baseUrl);
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  const body = hasBody ? await readBody(req, limit) : undefined;
  return new Request(url, { method: req.method, headers, body: body && body.length > 0 ? new Uint8Array(body) : hasBody ? '' : undefined });
}

/** Writes a Fetch Response to a Node response, streaming the body (SSE stays open). */
export async function sendFetchResponse(res: ServerResponse, response: Response): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name === 'set-cookie') return;
    headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length) headers['set-cookie'] = cookies;
  res.writeHead(response.status, headers);
  if (!response.body) {
    res.end();
    return;
  }
  // Readable.from, not fromWeb: yoga answers with its own ReadableStream ponyfill.
  const body = Readable.from(response.body as unknown as AsyncIterable<Uint8Array>, { objectMode: false });
  res.on('close', () => body.destroy());
  body.pipe(res);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export { BodyTooLargeError };
