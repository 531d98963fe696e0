/**
 * Slow and greedy clients (issue: connection limits). A request body must arrive within a
 * deadline, else 408 and the connection's work ends; one address may have at most so many
 * requests in flight on the desk's pages and staff API, else 429. Provider webhooks, the inbound
 * API and event streams are never capped (providers are never refused for volume; a stream lives
 * long by design). Slow headers never reach the app: the platform's proxy (or Deno's server)
 * owns those.
 */
import type { MiddlewareHandler } from "hono";
import { DeskError, TooManyRequests } from "../domain/errors.ts";
import type { AppDeps, DeskEnv, RequestLimits } from "./context.ts";
import { clientAddress } from "./request.ts";

export const DEFAULT_LIMITS: RequestLimits = { bodyDeadlineMs: 30_000, perAddress: 64 };

const UNCAPPED = [/^\/api\/inbound(\/|$)/, /^\/webhooks\//, /^\/events(\/|$)/];

export class SlowBody extends DeskError {
  constructor(ms: number) {
    super(408, "request_timeout", `The request body did not arrive within ${ms / 1000} s.`);
  }
}

export function requestLimits(
  deps: AppDeps,
  limits: RequestLimits = DEFAULT_LIMITS,
): MiddlewareHandler<DeskEnv> {
  const inFlight = new Map<string, number>();
  return async (c, next) => {
    const address = clientAddress(c, deps.config);
    // In-process callers (tests, the app's own requests) have no peer address to cap.
    const capped = address !== "local" && !UNCAPPED.some((p) => p.test(c.req.path));
    if (capped) {
      const now = inFlight.get(address) ?? 0;
      if (now >= limits.perAddress) {
        throw new TooManyRequests("Too many requests at once from this address.", 1);
      }
      inFlight.set(address, now + 1);
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const body = c.req.raw.body;
    if (body) {
      // The body stream errors at the deadline: whoever reads it gets a 408 instead of waiting.
      const guarded = body.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          start(controller) {
            timer = setTimeout(
              () => controller.error(new SlowBody(limits.bodyDeadlineMs)),
              limits.bodyDeadlineMs,
            );
          },
          flush() {
            clearTimeout(timer);
          },
        }),
      );
      c.req.raw = new Request(c.req.raw, { body: guarded, duplex: "half" } as RequestInit);
    }
    try {
      await next();
    } finally {
      clearTimeout(timer);
      if (capped) {
        const left = (inFlight.get(address) ?? 1) - 1;
        if (left > 0) inFlight.set(address, left);
        else inFlight.delete(address);
      }
    }
  };
}
