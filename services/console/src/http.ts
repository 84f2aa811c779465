import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApiErrorBody } from './view.js';

/** An HTTP answer for a request the console will not serve, with its reason for people. */
export class HttpError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Largest JSON body the console reads (a token, a roster item, a password). */
export const MAX_BODY_BYTES = 16 * 1024;

/** The request's JSON object body; refuses other content types, oversize bodies and non-objects. */
export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type)) throw new HttpError(415, 'bad-request', 'send the body as application/json');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'bad-request', `the body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'bad-request', 'the body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new HttpError(400, 'bad-request', 'the body must be a JSON object');
  return parsed as Record<string, unknown>;
}

/** A string field of a body, trimmed; `required` refuses a missing or empty one, naming it. */
export function field(body: Record<string, unknown>, name: string, options: { required?: boolean; max?: number; trim?: boolean } = {}): string {
  const v = body[name];
  if (v === undefined || v === null) {
    if (options.required === true) throw new HttpError(400, 'bad-request', `${name}: required`);
    return '';
  }
  if (typeof v !== 'string') throw new HttpError(400, 'bad-request', `${name}: a string expected`);
  const s = options.trim === false ? v : v.trim();
  if (options.required === true && s === '') throw new HttpError(400, 'bad-request', `${name}: must not be empty`);
  if (s.length > (options.max ?? 3072)) throw new HttpError(400, 'bad-request', `${name}: at most ${options.max ?? 3072} characters`);
  return s;
}

/** Headers on every answer: nothing cached, sniffed, framed or referred; scripts only from the console itself. */
export function securityHeaders(res: ServerResponse, connectSrc: readonly string[]): void {
  res.setHeader(
    'Content-Security-Policy',
    [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self'",
      `connect-src 'self'${connectSrc.map((s) => ` ${s}`).join('')}`,
      "base-uri 'none'",
      "form-action 'self'",
      "frame-ancestors 'none'",
    ].join('; '),
  );
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Cache-Control', 'no-store');
}

export function sendJson(res: ServerResponse, httpStatus: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(httpStatus, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, httpStatus: number, code: string, message: string): void {
  const body: ApiErrorBody = { error: message, code };
  sendJson(res, httpStatus, body);
}

/**
 * A state-changing request must come from the console's own page: its
 * Origin (which browsers always send on POST) names this host. SameSite=Strict
 * already keeps the cookie off other sites' requests; this is the second lock.
 */
export function checkSameOrigin(req: IncomingMessage): void {
  const origin = req.headers.origin;
  const host = req.headers.host;
  if (origin === undefined || host === undefined) throw new HttpError(403, 'bad-origin', 'requests that change something must come from the console page (Origin header missing)');
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    throw new HttpError(403, 'bad-origin', 'the Origin header is not a URL');
  }
  if (originHost !== host) throw new HttpError(403, 'bad-origin', `requests from ${origin} are not accepted`);
}
