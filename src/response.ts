/**
 * A response with the same status, status text, URL and (by default) headers as another and a new
 * body, for any status the server sent. `new Response()` takes only 200–599 (and no body with 204,
 * 205 or 304), while fetch returns whatever the server said (`HTTP/1.1 999`): such a response is
 * given as a proxy of the original whose body, headers and body readers are the new ones.
 */

/** Whether `new Response(body, { status })` accepts this status with a body (or without one). */
function constructible(status: number, hasBody: boolean): boolean {
  if (status < 200 || status > 599) return false;
  return !hasBody || (status !== 204 && status !== 205 && status !== 304);
}

/** The members that read or expose the body: taken from the carrier of the new body. */
const BODY_MEMBERS = new Set([
  'body',
  'bodyUsed',
  'json',
  'text',
  'arrayBuffer',
  'bytes',
  'blob',
  'formData',
]);

function substitute(
  original: Response,
  body: ReadableStream<Uint8Array> | Uint8Array | null,
  headers: Headers,
): Response {
  // A 200 that carries the body and its readers (the content type included, for `blob()`).
  const carrier = new Response(body as BodyInit | null, { headers });
  return new Proxy(original, {
    get(target, prop) {
      if (prop === 'headers') return headers;
      if (prop === 'clone') return () => substitute(original, carrier.clone().body, headers);
      const source = typeof prop === 'string' && BODY_MEMBERS.has(prop) ? carrier : target;
      const value = Reflect.get(source, prop, source) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(source) : value;
    },
  });
}

/**
 * `response` with another body (and `headers`, default its own). Never throws for the status: one
 * `Response` cannot be built with is kept, behind a proxy (see the module comment).
 */
export function withBody(
  response: Response,
  body: ReadableStream<Uint8Array> | Uint8Array | null,
  headers: Headers = response.headers,
): Response {
  if (!constructible(response.status, body !== null)) return substitute(response, body, headers);
  const copy = new Response(body as BodyInit | null, {
    status: response.status,
    statusText: response.statusText,
    headers,
  });
  if (response.url) Object.defineProperty(copy, 'url', { value: response.url });
  return copy;
}

/** `status` when a `Response` can be built with it, else `fallback`. */
export function buildableStatus(status: number | undefined, fallback: number): number {
  return status !== undefined && Number.isInteger(status) && status >= 200 && status <= 599
    ? status
    : fallback;
}
