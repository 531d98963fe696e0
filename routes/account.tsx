/** `/account`: one's own account page and password change (rule 58), for every staff member. */
import { Hono } from "hono";
import { MIN_PASSWORD } from "../domain/agents.ts";
import { DeskError, Invalid } from "../domain/errors.ts";
import { changeOwnPassword } from "../domain/own_password.ts";
import { navCounts } from "../live/desk_counts.ts";
import { AccountPage } from "../views/account.tsx";
import type { AppDeps, DeskEnv } from "./context.ts";
import { formOf, pageAuth, redirectWithFlash, takeFlash } from "./page_auth.ts";

export function accountPages(deps: AppDeps): Hono<DeskEnv> {
  const { desk } = deps;
  const app = new Hono<DeskEnv>();
  app.use("/account", pageAuth(deps));
  app.use("/account/*", pageAuth(deps));

  app.get("/account", async (c) => {
    const agent = c.get("agent");
    const { counts } = await navCounts(desk, agent);
    return c.html(<AccountPage agent={agent} counts={counts} flash={takeFlash(c)} />);
  });

  app.get("/account/password", (c) => c.redirect("/account", 303));
  app.post("/account/password", async (c) => {
    const agent = c.get("agent");
    const form = await formOf(c);
    try {
      if ((form.newPassword ?? "") !== (form.confirmPassword ?? "")) {
        throw new Invalid("mismatch", "The new passwords differ.", {
          confirmPassword: "Type the same new password twice.",
        });
      }
      await changeOwnPassword(desk.kv, desk.clock, agent.id, form, c.get("token"));
    } catch (error) {
      if (!(error instanceof DeskError) || error.status === 401 || error.status === 404) {
        throw error;
      }
      const errors = error instanceof Invalid && Object.keys(error.fields).length
        ? { ...error.fields, ...passwordHints(error) }
        : { form: error.message };
      const { counts } = await navCounts(desk, agent);
      const headers: Record<string, string> = {};
      if ("retryAfterSeconds" in error) {
        headers["retry-after"] = String((error as { retryAfterSeconds: number }).retryAfterSeconds);
      }
      return c.html(
        <AccountPage agent={agent} counts={counts} errors={errors} />,
        error.status === 429 ? 429 : 400,
        headers,
      );
    }
    return redirectWithFlash(c, "/account", {
      kind: "ok",
      text: "Password changed. You stay signed in here; your other sessions were signed out.",
    });
  });
  return app;
}

/** Field errors in words for the form (the API's are short). */
function passwordHints(error: Invalid): Record<string, string> {
  if (error.fields.newPassword === "Too short.") {
    return { newPassword: `At least ${MIN_PASSWORD} characters.` };
  }
  return {};
}
