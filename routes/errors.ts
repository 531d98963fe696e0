/** One error handler: domain errors become JSON `{error: {code, message}}` or an HTML page. */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { DeskError, Invalid, TooManyRequests, Unprocessable } from "../domain/errors.ts";

export function wantsHtml(c: Context): boolean {
  return !c.req.path.startsWith("/api/") && (c.req.header("accept") ?? "").includes("text/html");
}

export function errorBody(
  error: unknown,
): {
  status: number;
  code: string;
  message: string;
  fields?: Record<string, string> | string[];
} {
  if (error instanceof DeskError) {
    return {
      status: error.status,
      code: error.code,
      message: error.message,
      ...(error instanceof Invalid && Object.keys(error.fields).length
        ? { fields: error.fields }
        : error instanceof Unprocessable && error.fields.length
        ? { fields: error.fields }
        : {}),
    };
  }
  if (error instanceof HTTPException) {
    const status = error.status;
    const code = status === 413 ? "body_too_large" : status === 403 ? "forbidden" : "http_error";
    return { status, code, message: error.message || "Request refused." };
  }
  if (error instanceof SyntaxError) {
    return { status: 400, code: "invalid_json", message: "The body is not valid JSON." };
  }
  console.error(error);
  return { status: 500, code: "internal", message: "Something went wrong on our side." };
}

export function errorJson(c: Context, error: unknown): Response {
  const body = errorBody(error);
  const headers: Record<string, string> = {};
  if (error instanceof TooManyRequests) headers["retry-after"] = String(error.retryAfterSeconds);
  return c.json(
    {
      error: {
        code: body.code,
        message: body.message,
        ...(body.fields ? { fields: body.fields } : {}),
      },
    },
    body.status as 400,
    headers,
  );
}
