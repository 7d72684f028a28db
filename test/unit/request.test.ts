import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { operationName, readRequest, redactUrl } from '../../src/request.js';

const MESSAGES = 'https://api.anthropic.com/v1/messages';

/** The request's headers as a `Headers` (whether `readRequest` copies them or keeps them as given). */
const headersOf = (req: { headers: HeadersInit | undefined }): Headers => new Headers(req.headers);
const body = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 1024, stream: true, messages: [] });

describe('readRequest: inputs', () => {
  it('reads a string URL with init', () => {
    const controller = new AbortController();
    const init: RequestInit = {
      method: 'post',
      headers: { 'content-type': 'application/json', 'x-stainless-retry-count': '2' },
      body,
      signal: controller.signal,
    };
    const req = readRequest(MESSAGES, init);
    expect(req.url.href).toBe(MESSAGES);
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/v1/messages');
    expect(headersOf(req).get('content-type')).toBe('application/json');
    expect(req.body).toBe(body);
    expect(req.json).toEqual(JSON.parse(body));
    expect(req.model).toBe('claude-sonnet-4-5');
    expect(req.maxTokens).toBe(1024);
    expect(req.stream).toBe(true);
    expect(req.operation).toBe('chat');
    expect(req.sdkRetryCount).toBe(2);
    expect(req.signal).toBe(controller.signal);
    expect(req.init).toBe(init);
  });

  it('reads a URL object', () => {
    const url = new URL('https://api.anthropic.com/v1/messages/count_tokens?beta=true');
    const req = readRequest(url, { method: 'POST', body: '{"model":"m"}' });
    expect(req.url.href).toBe(url.href);
    expect(req.path).toBe('/v1/messages/count_tokens');
    expect(req.operation).toBe('count_tokens');
    expect(req.model).toBe('m');
    expect(req.stream).toBe(false);
    expect(req.maxTokens).toBeUndefined();
  });

  it('defaults to GET, no body, no signal and an empty init', () => {
    const req = readRequest('https://api.anthropic.com/v1/models', undefined);
    expect(req.method).toBe('GET');
    expect(req.body).toBeUndefined();
    expect(req.json).toBeUndefined();
    expect(req.model).toBeUndefined();
    expect(req.stream).toBe(false);
    expect(req.signal).toBeUndefined();
    expect(req.init).toEqual({});
    expect(req.sdkRetryCount).toBe(0);
    expect([...headersOf(req)]).toEqual([]);
  });

  it('upper-cases the method', () => {
    for (const method of ['get', 'Post', 'patch', 'delete', 'PUT']) {
      expect(readRequest(MESSAGES, { method }).method).toBe(method.toUpperCase());
    }
  });

  it('reads a Request: its method, headers and signal', () => {
    const controller = new AbortController();
    const request = new Request(MESSAGES, {
      method: 'POST',
      headers: { 'x-api-key': 'k', 'x-stainless-retry-count': '1' },
      body,
      signal: controller.signal,
    });
    const req = readRequest(request, undefined);
    expect(req.url.href).toBe(MESSAGES);
    expect(req.method).toBe('POST');
    expect(headersOf(req).get('x-api-key')).toBe('k');
    expect(req.sdkRetryCount).toBe(1);
    // The body of a Request is a stream: it is not read.
    expect(req.body).toBeUndefined();
    expect(req.json).toBeUndefined();
    expect(req.signal).toBeInstanceOf(AbortSignal);
    expect(req.signal?.aborted).toBe(false);
    controller.abort();
    expect(req.signal?.aborted).toBe(true);
  });

  it("lets init override a Request's method, replace its headers and set the body and signal", () => {
    const request = new Request(MESSAGES, { method: 'PUT', headers: { 'x-api-key': 'k', 'x-a': '1' } });
    const controller = new AbortController();
    const req = readRequest(request, {
      method: 'post',
      headers: [['x-b', '2']],
      body,
      signal: controller.signal,
    });
    expect(req.method).toBe('POST');
    expect(headersOf(req).get('x-api-key')).toBeNull();
    expect(headersOf(req).get('x-a')).toBeNull();
    expect(headersOf(req).get('x-b')).toBe('2');
    expect(req.model).toBe('claude-sonnet-4-5');
    expect(req.signal).toBe(controller.signal);
  });

  it('does not change the headers it is given', () => {
    const record = { 'X-A': '1', 'x-stainless-retry-count': '2' };
    const list: [string, string][] = [['x-a', '1']];
    const headers = new Headers({ 'x-a': '1' });
    readRequest(MESSAGES, { headers: record });
    readRequest(MESSAGES, { headers: list });
    readRequest(MESSAGES, { headers });
    expect(record).toEqual({ 'X-A': '1', 'x-stainless-retry-count': '2' });
    expect(list).toEqual([['x-a', '1']]);
    expect([...headers]).toEqual([['x-a', '1']]);
  });

  it('throws for a URL that cannot be parsed', () => {
    expect(() => readRequest('not a url', undefined)).toThrow();
    expect(() => readRequest('/v1/messages', undefined)).toThrow();
  });
});

describe('readRequest: JSON body', () => {
  const read = (b: RequestInit['body']) => readRequest(MESSAGES, { method: 'POST', body: b });

  it('parses a JSON object, also after leading whitespace', () => {
    for (const text of ['{"model":"m","stream":false}', ' \n\t\r{"model":"m","stream":false}']) {
      const req = read(text);
      expect(req.json).toEqual({ model: 'm', stream: false });
      expect(req.model).toBe('m');
      expect(req.stream).toBe(false);
    }
  });

  it.each([
    ['not json', 'hello'],
    ['broken JSON', '{"model":'],
    ['an array', '[{"model":"m"}]'],
    ['an array after whitespace', '  [{"model":"m"}]'],
    ['a JSON string', '"{\\"model\\":\\"m\\"}"'],
    ['null', 'null'],
    ['null after whitespace', ' null'],
    ['a number', ' 42'],
    ['empty', ''],
  ])('gives no json for %s', (_label, text) => {
    const req = read(text);
    expect(req.json).toBeUndefined();
    expect(req.model).toBeUndefined();
    expect(req.maxTokens).toBeUndefined();
    expect(req.stream).toBe(false);
  });

  it('gives no json for bodies that are not strings', () => {
    const text = '{"model":"m","stream":true}';
    for (const b of [
      new TextEncoder().encode(text),
      new Blob([text]),
      new URLSearchParams({ model: 'm' }),
      new ReadableStream<Uint8Array>(),
    ]) {
      const req = read(b);
      expect(req.body).toBe(b);
      expect(req.json).toBeUndefined();
      expect(req.model).toBeUndefined();
      expect(req.stream).toBe(false);
    }
  });

  it('only takes fields of the right type', () => {
    const req = read(JSON.stringify({ model: 42, max_tokens: '1024', stream: 'true' }));
    expect(req.json).toEqual({ model: 42, max_tokens: '1024', stream: 'true' });
    expect(req.model).toBeUndefined();
    expect(req.maxTokens).toBeUndefined();
    expect(req.stream).toBe(false);
    const ok = read(JSON.stringify({ model: 'claude', max_tokens: 0, stream: true }));
    expect(ok.model).toBe('claude');
    expect(ok.maxTokens).toBe(0);
    expect(ok.stream).toBe(true);
  });

  it('never throws for any string body', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (text) => {
        const req = read(text);
        if (req.json !== undefined) {
          expect(typeof req.json).toBe('object');
          expect(Array.isArray(req.json)).toBe(false);
        }
        expect(typeof req.stream).toBe('boolean');
      }),
    );
  });
});

describe('readRequest: x-stainless-retry-count', () => {
  it.each([
    [undefined, 0],
    ['0', 0],
    ['1', 1],
    ['3', 3],
    [' 4 ', 4],
    ['12', 12],
    ['abc', 0],
    ['', 0],
    ['-1', 0],
    ['-7', 0],
    ['NaN', 0],
    ['Infinity', 0],
  ])('%j → %d', (value, expected) => {
    const headers: Record<string, string> = value === undefined ? {} : { 'x-stainless-retry-count': value };
    expect(readRequest(MESSAGES, { headers }).sdkRetryCount).toBe(expected);
  });

  it('is read from every form of headers, whatever the case of the name', () => {
    const forms: HeadersInit[] = [
      { 'x-stainless-retry-count': '3' },
      { 'X-Stainless-Retry-Count': '3' },
      [['X-STAINLESS-RETRY-COUNT', '3']],
      [
        ['x-other', '9'],
        ['x-stainless-retry-count', '3'],
      ],
      new Headers({ 'X-Stainless-Retry-Count': '3' }),
    ];
    for (const headers of forms) expect(readRequest(MESSAGES, { headers }).sdkRetryCount).toBe(3);
    const request = new Request(MESSAGES, { headers: { 'X-Stainless-Retry-Count': '4' } });
    expect(readRequest(request, undefined).sdkRetryCount).toBe(4);
    // init.headers replace those of the Request.
    expect(readRequest(request, { headers: {} }).sdkRetryCount).toBe(0);
  });

  it('is always a non-negative integer', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) }),
        (value) => {
          const n = readRequest(MESSAGES, { headers: { 'x-stainless-retry-count': value } }).sdkRetryCount;
          expect(Number.isInteger(n) && n >= 0).toBe(true);
        },
      ),
    );
  });
});

describe('operationName', () => {
  it.each([
    ['/v1/messages', 'chat'],
    ['/proxy/anthropic/v1/messages', 'chat'],
    ['/v1/messages/count_tokens', 'count_tokens'],
    ['/v1/models', 'list_models'],
    ['/v1/models/claude-sonnet-4-5', 'list_models'],
    ['/v1/messages/batches', 'batches'],
    ['/v1/messages/batches/msgbatch_01', 'batches'],
    ['/v1/messages/batches/msgbatch_01/results', 'batches'],
    ['/v1/messages/batches/msgbatch_01/cancel', 'batches'],
    ['/v1/files', 'files'],
    ['/v1/complete', 'complete'],
    ['/', 'unknown'],
    ['', 'unknown'],
    // Vertex AI: the model and the action are in the path.
    ['/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5:rawPredict', 'chat'],
    [
      '/v1/projects/p/locations/global/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict',
      'chat',
    ],
    ['/v1/projects/p/locations/us-east5/publishers/anthropic/models/count-tokens:rawPredict', 'count_tokens'],
  ])('%j → %s', (path, operation) => {
    expect(operationName(path)).toBe(operation);
  });

  it('is used for the operation of a request', () => {
    expect(readRequest('https://api.anthropic.com/v1/models/claude-x', undefined).operation).toBe(
      'list_models',
    );
    expect(readRequest('https://api.anthropic.com/v1/messages/batches?limit=2', undefined).operation).toBe(
      'batches',
    );
    expect(readRequest('https://api.anthropic.com/v1/messages?beta=true', undefined).operation).toBe('chat');
  });
});

describe('redactUrl', () => {
  it('returns a URL without credentials unchanged', () => {
    for (const href of [
      'https://api.anthropic.com/v1/messages',
      'https://api.anthropic.com/v1/messages?beta=true',
      'https://api.anthropic.com/v1/messages?a=b%20c&d=%2F#frag',
      'http://localhost:8080/x?model=claude',
    ]) {
      expect(redactUrl(new URL(href))).toBe(new URL(href).href);
    }
  });

  it('redacts user and password', () => {
    expect(redactUrl(new URL('https://user:pass@proxy.example/v1/messages'))).toBe(
      'https://REDACTED:REDACTED@proxy.example/v1/messages',
    );
    expect(redactUrl(new URL('https://user@proxy.example/v1/messages'))).toBe(
      'https://REDACTED@proxy.example/v1/messages',
    );
    expect(redactUrl(new URL('https://:pass@proxy.example/'))).toBe('https://:REDACTED@proxy.example/');
  });

  it.each([
    'key',
    'KEY',
    'api_key',
    'api-key',
    'apikey',
    'API_KEY',
    'token',
    'access_token',
    'auth',
    'authorization',
    'sig',
    'signature',
    'X-Amz-Signature',
    'X-Amz-Credential',
    'x-amz-security-token',
    'code',
    'password',
    'secret',
  ])('redacts the query parameter %s and keeps the others', (name) => {
    const url = new URL(`https://host.example/p?beta=true&${name}=s3cr3tvalue&model=claude#f`);
    const out = redactUrl(url);
    expect(out).not.toContain('s3cr3tvalue');
    const redacted = new URL(out);
    expect(redacted.searchParams.get(name)).toBe('REDACTED');
    expect(redacted.searchParams.get('beta')).toBe('true');
    expect(redacted.searchParams.get('model')).toBe('claude');
    expect(redacted.pathname).toBe('/p');
    expect(redacted.hash).toBe('#f');
  });

  it('does not redact parameters that only contain a sensitive word', () => {
    const href = 'https://host.example/p?keyword=a&monkey=b&tokens=5&x-amzz=c';
    expect(redactUrl(new URL(href))).toBe(href);
  });

  it('redacts every value of a repeated parameter and both credentials at once', () => {
    const out = redactUrl(new URL('https://u:p@host.example/?key=first1&key=second2&x=1'));
    expect(out).not.toContain('first1');
    expect(out).not.toContain('second2');
    expect(out).toContain('REDACTED:REDACTED@');
    expect(new URL(out).searchParams.get('x')).toBe('1');
  });

  it('does not change the URL it is given', () => {
    const url = new URL('https://u:p@host.example/?key=abc');
    redactUrl(url);
    expect(url.href).toBe('https://u:p@host.example/?key=abc');
  });

  it('never leaks a credential value', () => {
    const secret = fc.string({
      unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'.split('')),
      minLength: 12,
      maxLength: 24,
    });
    const sensitive = fc.constantFrom('key', 'api_key', 'X-Amz-Signature', 'token', 'sig', 'password');
    fc.assert(
      fc.property(secret, secret, sensitive, fc.boolean(), (user, value, name, first) => {
        const query = first ? `${name}=${value}&keep=1` : `keep=1&${name}=${value}`;
        const out = redactUrl(new URL(`https://${user}:${value}@h.example/v1/messages?${query}`));
        expect(out).not.toContain(value);
        expect(out).not.toContain(user);
        expect(new URL(out).searchParams.get('keep')).toBe('1');
      }),
    );
  });
});
