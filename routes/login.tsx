/** `/login` and `/logout`: the session cookie for pages, through the rate-limited signIn. */
import { Hono } from "hono";
import { getCookie } from "hono/cookie";
import { DeskError, Invalid } from "../domain/errors.ts";
import { authenticate, signIn, signOut } from "../domain/sessions.ts";
import { LoginPage } from "../views/login.tsx";
import { SESSION_COOKIE } from "./auth.ts";
import type { AppDeps, DeskEnv } from "./context.ts";
import { clearSessionCookie, formOf, safeNext, setSessionCookie } from "./page_auth.ts";
import { clientAddress } from "./request.ts";

export function loginRoutes(deps: AppDeps): Hono<DeskEnv> {
  const { kv, clock } = deps.desk;
  const app = new Hono<DeskEnv>();

  app.get("/login", async (c) => {
    const next = safeNext(c.req.query("next"));
    const agent = await authenticate(kv, clock, getCookie(c, SESSION_COOKIE) ?? "");
    if (agent) return c.redirect(next, 303);
    const notice = c.req.query("signedOut") === "1" ? "You are signed out." : null;
    return c.html(<LoginPage next={next} notice={notice} />);
  });

  app.post("/login", async (c) => {
    const form = await formOf(c);
    const next = safeNext(form.next);
    const email = (form.email ?? "").trim();
    try {
      const { token } = await signIn(
        kv,
        clock,
        { email, password: form.password ?? "" },
        clientAddress(c, deps.config),
      );
      setSessionCookie(c, token);
      return c.redirect(next, 303);
    } catch (error) {
      if (!(error instanceof DeskError)) throw error;
      const message = error instanceof Invalid ? "Enter your e-mail and password." : error.message;
      const headers: Record<string, string> = {};
      if ("retryAfterSeconds" in error) {
        headers["retry-after"] = String((error as { retryAfterSeconds: number }).retryAfterSeconds);
      }
      return c.html(
        <LoginPage next={next} email={email} error={message} />,
        error.status === 429 ? 429 : error.status === 400 ? 400 : 401,
        headers,
      );
    }
  });

  app.post("/logout", async (c) => {
    const token = getCookie(c, SESSION_COOKIE);
    if (token) await signOut(kv, token);
    clearSessionCookie(c);
    return c.redirect("/login?signedOut=1", 303);
  });

  return app;
}
