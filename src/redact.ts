/**
 * The one redactor of everything recorded: `url.full` ({@link redactUrl}), and every other string
 * that may come from outside — exception messages and stack traces, span status messages, response
 * headers such as `request-id`, log fields ({@link redactText}).
 */

const SENSITIVE_QUERY =
  /^(key|api[-_]?key|token|access[-_]?token|auth|authorization|sig|signature|x-amz-.*|code|password|secret)$/i;

/** `url.full` without credentials: user info and credential-like query values become `REDACTED`. */
export function redactUrl(url: URL): string {
  if (!url.username && !url.password && !url.search) return url.href;
  const copy = new URL(url.href);
  if (copy.username) copy.username = 'REDACTED';
  if (copy.password) copy.password = 'REDACTED';
  if (copy.search) {
    const params = new URLSearchParams(copy.search);
    let changed = false;
    for (const name of [...params.keys()]) {
      if (SENSITIVE_QUERY.test(name)) {
        params.set(name, 'REDACTED');
        changed = true;
      }
    }
    if (changed) copy.search = params.toString();
  }
  return copy.href;
}

const REDACTED = '[REDACTED]';

/** Secret patterns, replaced in every string recorded (after the URLs). */
const SECRET_PATTERNS: readonly [RegExp, string][] = [
  // Anthropic keys, wherever they appear (even glued to other text), and other `sk-` keys.
  [/sk-ant-[A-Za-z0-9_-]*/g, REDACTED],
  [/\bsk-[A-Za-z0-9_-]{16,}/g, REDACTED],
  // Cookies and authorization: the whole value (`a=1; b=2`, `Token abc`, `Bearer …`).
  [/((?:set-)?cookie["']?\s*[:=]\s*)[^\r\n]*/gi, `$1${REDACTED}`],
  [/((?:proxy-)?authorization["']?\s*[:=]\s*["']?)[^\r\n"'`,;}]+/gi, `$1${REDACTED}`],
  [/\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+/gi, `$1 ${REDACTED}`],
  // `x-api-key: …`, `"api_key":"…"`, `?token=…`, `password=…`.
  [
    /(x-api-key|api[-_]?key|x-auth-token|access[-_]?token|refresh[-_]?token|token|secret|password|passwd|signature|sig)(["']?\s*[:=]\s*["']?)(?!\[REDACTED\]|REDACTED)[^\s,;"'&}\]]+/gi,
    `$1$2${REDACTED}`,
  ],
  // User info in URLs that did not parse.
  [/\b([a-z][a-z0-9+.-]*:\/\/)(?!REDACTED[:@])[^\s/@]+@/gi, `$1${REDACTED}@`],
];

/** URLs in text (up to a character that cannot be part of one in an error message). */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'`<>()[\]{}]+/gi;

function redactUrlsIn(text: string): string {
  if (!text.includes('://')) return text;
  return text.replace(URL_IN_TEXT, (match) => {
    let url: URL;
    try {
      url = new URL(match);
    } catch {
      return match;
    }
    return url.username || url.password || url.search ? redactUrl(url) : match;
  });
}

/**
 * `text` without secrets: URLs as in `url.full` ({@link redactUrl}), API keys, tokens,
 * authorization values and cookies replaced, and each of `secrets` (the request's own credentials,
 * 6 characters or more) wherever it appears.
 */
export function redactText(text: string, secrets?: readonly string[]): string {
  let out = redactUrlsIn(text);
  if (secrets !== undefined) {
    for (const secret of secrets) if (secret.length >= 6) out = out.split(secret).join(REDACTED);
  }
  for (const [pattern, replacement] of SECRET_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

/**
 * The credentials a request carries, to be redacted from what is recorded about it: the
 * `x-api-key` and `authorization` values (the latter without its scheme) and the URL's user info.
 */
export function requestSecrets(url: URL, header: (name: string) => string | null): string[] {
  const secrets: string[] = [];
  const key = header('x-api-key');
  if (key) secrets.push(key);
  const auth = header('authorization');
  if (auth) secrets.push(auth.replace(/^\s*[A-Za-z]+\s+/, ''));
  if (url.password) secrets.push(url.password, decodeURIComponent(url.password));
  if (url.username) secrets.push(url.username, decodeURIComponent(url.username));
  return secrets;
}

/**
 * A copy of `error` (and of its causes, 8 deep) whose messages and stack traces are redacted, with
 * the same name and `code`: what is recorded of an exception never carries a secret.
 */
export function redactError(error: unknown, secrets?: readonly string[], depth = 0): Error {
  if (!(error instanceof Error)) return new Error(redactText(String(error), secrets));
  const copy = new Error(redactText(error.message, secrets));
  Object.defineProperty(copy, 'name', { value: error.name, enumerable: false, configurable: true });
  copy.stack = error.stack === undefined ? undefined : redactText(error.stack, secrets);
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') Object.assign(copy, { code });
  const cause = (error as { cause?: unknown }).cause;
  if (cause !== undefined && cause !== error && depth < 8) {
    Object.defineProperty(copy, 'cause', {
      value: redactError(cause, secrets, depth + 1),
      enumerable: false,
      configurable: true,
    });
  }
  return copy;
}
