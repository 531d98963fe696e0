/**
 * One line per request for the operator: method, path, status, time. Query strings are never
 * logged on provider webhooks (they may carry a verify token) and on the visitors' event stream
 * (its one-use ticket) (rule 31); elsewhere they are kept, capped.
 */
const SECRET_QUERIES = [/^\/webhooks\//, /^\/webchat\/api\/events/];

/** The path and query as they may be logged. */
export function loggablePath(url: URL): string {
  if (!url.search || SECRET_QUERIES.some((pattern) => pattern.test(url.pathname))) {
    return url.pathname;
  }
  return (url.pathname + url.search).slice(0, 300);
}

type Handler = (request: Request, info: Deno.ServeHandlerInfo) => Response | Promise<Response>;

export function withAccessLog(
  handler: Handler,
  log: (line: string) => void = console.log,
): Handler {
  return async (request, info) => {
    const started = performance.now();
    const response = await handler(request, info);
    const ms = (performance.now() - started).toFixed(1);
    log(`${request.method} ${loggablePath(new URL(request.url))} ${response.status} ${ms}ms`);
    return response;
  };
}
