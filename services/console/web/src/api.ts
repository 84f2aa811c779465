import type { ApiErrorBody, Me } from '../../src/view.js';

/** A refused or failed console request, with the message the console gave (it names the field at fault). */
export class RequestError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'RequestError';
  }

  /** The session is gone (logged out elsewhere, idle too long, or the cluster refused the token). */
  get loggedOut(): boolean {
    return this.httpStatus === 401;
  }
}

async function request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? null : JSON.stringify(body),
    });
  } catch {
    throw new RequestError(0, 'console-unreachable', 'The console cannot be reached.');
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? {} : JSON.parse(text);
  } catch {
    throw new RequestError(res.status, 'bad-answer', `The console answered ${res.status} with something that is not JSON.`);
  }
  if (!res.ok) {
    const e = parsed as Partial<ApiErrorBody>;
    throw new RequestError(res.status, e.code ?? 'unknown', e.error ?? `HTTP ${res.status}`);
  }
  return parsed as T;
}

export const get = <T>(path: string): Promise<T> => request<T>('GET', path);
export const post = <T>(path: string, body: unknown): Promise<T> => request<T>('POST', path, body);

export const whoAmI = (): Promise<Me> => get<Me>('/api/me');
export const login = (token: string): Promise<Me> => post<Me>('/api/login', { token });
export const logout = (): Promise<unknown> => post('/api/logout', {});

export const userPath = (jid: string): string => `/api/users/${encodeURIComponent(jid)}`;
