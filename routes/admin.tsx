/**
 * Admin pages (role admin): business hours, agents, departments, auto-responder texts and
 * timeouts, message templates, canned replies, integrations (channel settings). Plain forms posting back here (CSRF-checked), redirect after a
 * save, and the same page with messages next to the fields when a form is refused.
 */
import type { Context } from "hono";
import { Hono } from "hono";
import type { Child } from "hono/jsx";
import { createAgent, getAgent, listAgents, updateAgent } from "../domain/agents.ts";
import { describeOpening, timeZones } from "../domain/business_hours.ts";
import {
  createCannedReply,
  deleteCannedReply,
  getCannedReply,
  listCannedReplies,
  updateCannedReply,
} from "../domain/canned_replies.ts";
import {
  getChannelSettings,
  PROVIDER_CHANNELS,
  type ProviderChannel,
  publicChannels,
  type SettingsChannel,
} from "../domain/channel_settings.ts";
import {
  createDepartment,
  getDepartment,
  listDepartments,
  updateDepartment,
} from "../domain/departments.ts";
import { Conflict, DeskError, Invalid, NotFound } from "../domain/errors.ts";
import { inboundToken, rotateInboundToken } from "../domain/inbound_token.ts";
import {
  applyAction,
  draftFromForm,
  draftFromHours,
  type HoursDraft,
  hoursFromDraft,
  hoursUpdate,
} from "../domain/hours_form.ts";
import {
  getSettings,
  parseSettingsUpdate,
  TIMEOUT_BOUNDS,
  updateSettings,
} from "../domain/settings.ts";
import {
  createTemplate,
  deleteTemplate,
  listTemplates,
  updateTemplate,
} from "../domain/templates.ts";
import { assignedCount } from "../domain/tickets.ts";
import type { Agent, CannedReply, Template, Texts, Timeouts } from "../domain/types.ts";
import { AreaPage, type Errors } from "../views/admin_shell.tsx";
import {
  CannedRepliesTable,
  type CannedReplyDraft,
  CannedReplyForm,
  emptyCannedReplyDraft,
} from "../views/admin_canned_replies.tsx";
import {
  CHANNEL_TITLES,
  type ChannelDrafts,
  draftsOf,
  IntegrationsPage,
  type TestState,
} from "../views/admin_integrations.tsx";
import { HoursForm } from "../views/admin_hours.tsx";
import {
  type AgentDraft,
  AgentEdit,
  AgentsTable,
  DepartmentsPage,
  emptyAgentDraft,
  NewAgentForm,
} from "../views/admin_people.tsx";
import { TEXT_KEYS, TextsForm, TextsPreview, TimeoutsForm } from "../views/admin_texts.tsx";
import {
  emptyTemplateDraft,
  type TemplateDraft,
  TemplateForm,
  TemplatesTable,
} from "../views/admin_templates.tsx";
import {
  CHANNEL_FORMS,
  CHANNEL_ROUTE,
  channelErrors,
  readTestForm,
  saveChannel,
  testMissing,
} from "./channel_forms.ts";
import type { AppDeps, DeskEnv } from "./context.ts";
import { navCounts } from "../live/desk_counts.ts";
import { formData, pageAuth, pageCsrf, redirectWithFlash, takeFlash } from "./page_auth.ts";
import { assetUrl } from "../views/assets.ts";

/** A form's text field, trimmed ("" when missing). */
export const field = (form: FormData, name: string): string => {
  const v = form.get(name);
  return typeof v === "string" ? v.trim() : "";
};
const fields = (form: FormData, name: string): string[] =>
  form.getAll(name).filter((v): v is string => typeof v === "string");

/**
 * A refused form's messages by field. Domain `Invalid` errors name their fields; a conflict is
 * put on the field it is about; anything else becomes a form-level message.
 */
export function formErrors(error: unknown, conflictField = "form"): Errors {
  if (!(error instanceof DeskError)) throw error;
  if (error instanceof Invalid && Object.keys(error.fields).length) {
    const out: Errors = {};
    for (const [k, v] of Object.entries(error.fields)) out[k] = v;
    return out;
  }
  if (error instanceof Conflict) return { [conflictField]: error.message };
  if (error.status === 404 || error.status === 403) throw error;
  return { form: error.message };
}

const statusOf = (error: unknown): 400 | 409 =>
  error instanceof DeskError && error.status === 409 ? 409 : 400;

/**
 * The Admin or Supervisor sub-app: the CSRF and role checks, and `page`, which
 * draws a body inside the area's tabs.
 */
export function areaApp(deps: AppDeps, area: "admin" | "supervisor") {
  const app = new Hono<DeskEnv>();
  const css = assetUrl("admin.css");
  app.use("*", pageCsrf(deps.config.publicUrl), pageAuth(deps, area));
  const page = async (
    c: Context<DeskEnv>,
    title: string,
    current: string,
    body: Child,
    opts: { status?: 200 | 400 | 409 | 422; wide?: boolean } = {},
  ) => {
    const agent = c.get("agent");
    const { counts } = await navCounts(deps.desk, agent);
    return c.html(
      <AreaPage
        area={area}
        agent={agent}
        title={title}
        current={current}
        css={css}
        flash={takeFlash(c)}
        wide={opts.wide}
        counts={counts}
      >
        {body}
      </AreaPage>,
      opts.status ?? 200,
    );
  };
  return { app, page };
}

export function adminPages(deps: AppDeps): Hono<DeskEnv> {
  const { kv, clock } = deps.desk;
  const { app, page } = areaApp(deps, "admin");

  app.get("/", (c) => c.redirect("/admin/hours", 303));

  // Business hours (rule 22).
  const hoursPage = async (
    c: Context<DeskEnv>,
    draft: HoursDraft | null,
    errors: Errors,
    previewHours: Parameters<typeof describeOpening>[0] | null,
    status: 200 | 400 = 200,
  ) => {
    const { hours } = await getSettings(kv);
    const shown = previewHours ?? hours;
    return page(
      c,
      "Business hours",
      "/admin/hours",
      <HoursForm
        draft={draft ?? draftFromHours(hours)}
        errors={errors}
        preview={describeOpening(shown, clock.now())}
        previewOf={previewHours ? "draft" : "saved"}
        zones={timeZones()}
      />,
      { status },
    );
  };
  app.get("/hours", (c) => hoursPage(c, null, {}, null));
  app.post("/hours", async (c) => {
    const { hours } = await getSettings(kv);
    const { draft, action } = draftFromForm(await formData(c));
    if (action.kind !== "save" && action.kind !== "preview") {
      return hoursPage(c, applyAction(draft, action), {}, null);
    }
    const parsed = hoursFromDraft(draft, hours);
    if (!parsed.ok) return hoursPage(c, draft, parsed.errors, null, 400);
    if (action.kind === "preview") return hoursPage(c, draft, {}, parsed.value);
    try {
      const saved = await updateSettings(kv, hoursUpdate(parsed.value));
      return redirectWithFlash(c, "/admin/hours", {
        kind: "ok",
        text: `Business hours saved. ${describeOpening(saved.hours, clock.now())}.`,
      });
    } catch (error) {
      return hoursPage(c, draft, formErrors(error), null, 400);
    }
  });

  // Agents.
  const agentsPage = async (
    c: Context<DeskEnv>,
    draft: AgentDraft,
    errors: Errors,
    status: 200 | 400 | 409 = 200,
  ) => {
    const [agents, departments] = await Promise.all([listAgents(kv), listDepartments(kv)]);
    return page(
      c,
      "Agents",
      "/admin/agents",
      <div class="stack">
        <AgentsTable agents={agents} departments={departments} me={c.get("agent")} />
        <NewAgentForm draft={draft} errors={errors} departments={departments} />
      </div>,
      { status },
    );
  };
  const agentDraft = (form: FormData): AgentDraft => ({
    name: field(form, "name"),
    email: field(form, "email"),
    role: field(form, "role"),
    departments: fields(form, "departments"),
  });
  app.get("/agents", (c) => agentsPage(c, emptyAgentDraft(), {}));
  app.post("/agents", async (c) => {
    const form = await formData(c);
    const draft = agentDraft(form);
    try {
      const agent = await createAgent(kv, clock, {
        ...draft,
        password: form.get("password") ?? "",
      });
      return redirectWithFlash(c, "/admin/agents", {
        kind: "ok",
        text: `${agent.name} can now sign in as ${agent.email}.`,
        href: `/admin/agents/${agent.id}`,
        link: "Edit",
      });
    } catch (error) {
      return agentsPage(c, draft, formErrors(error, "email"), statusOf(error));
    }
  });

  const agentPage = async (
    c: Context<DeskEnv>,
    agent: Agent,
    opts: { draft?: AgentDraft; errors?: Errors; passwordErrors?: Errors; status?: 400 | 409 } = {},
  ) => {
    const [departments, assigned] = await Promise.all([
      listDepartments(kv),
      assignedCount(kv, agent.id),
    ]);
    return page(
      c,
      agent.name,
      "/admin/agents",
      <AgentEdit
        agent={agent}
        draft={opts.draft ??
          {
            name: agent.name,
            email: agent.email,
            role: agent.role,
            departments: agent.departments,
          }}
        errors={opts.errors ?? {}}
        passwordErrors={opts.passwordErrors ?? {}}
        departments={departments}
        assigned={assigned}
        me={c.get("agent")}
      />,
      { status: opts.status },
    );
  };
  app.get("/agents/:id", async (c) => agentPage(c, await getAgent(kv, c.req.param("id"))));
  app.post("/agents/:id", async (c) => {
    const agent = await getAgent(kv, c.req.param("id"));
    const draft = agentDraft(await formData(c));
    const me = c.get("agent");
    if (agent.id === me.id && draft.role !== "admin") {
      return agentPage(c, agent, {
        draft,
        errors: { role: "You cannot remove your own admin role." },
        status: 400,
      });
    }
    try {
      const saved = await updateAgent(kv, agent.id, draft);
      return redirectWithFlash(c, `/admin/agents/${agent.id}`, {
        kind: "ok",
        text: `Saved ${saved.name}.`,
      });
    } catch (error) {
      return agentPage(c, agent, {
        draft,
        errors: formErrors(error, "email"),
        status: statusOf(error),
      });
    }
  });
  app.post("/agents/:id/password", async (c) => {
    const agent = await getAgent(kv, c.req.param("id"));
    const form = await formData(c);
    const password = form.get("password");
    const confirm = form.get("confirm");
    if (typeof password === "string" && password && password !== confirm) {
      return agentPage(c, agent, {
        passwordErrors: { confirm: "The two passwords differ." },
        status: 400,
      });
    }
    try {
      await updateAgent(kv, agent.id, { password: password ?? "" }, {
        keepSession: c.get("token"),
      });
    } catch (error) {
      return agentPage(c, agent, { passwordErrors: formErrors(error), status: 400 });
    }
    return redirectWithFlash(c, `/admin/agents/${agent.id}`, {
      kind: "ok",
      text: `New password set for ${agent.name}.`,
    });
  });
  app.post("/agents/:id/active", async (c) => {
    const agent = await getAgent(kv, c.req.param("id"));
    const active = field(await formData(c), "active") === "1";
    if (agent.id === c.get("agent").id && !active) {
      return redirectWithFlash(c, `/admin/agents/${agent.id}`, {
        kind: "error",
        text: "You cannot deactivate your own account.",
      });
    }
    await updateAgent(kv, agent.id, { active });
    return redirectWithFlash(c, `/admin/agents/${agent.id}`, {
      kind: "ok",
      text: active
        ? `${agent.name} can sign in again.`
        : `${agent.name} is deactivated and cannot sign in. Their assigned tickets stay with supervisors.`,
    });
  });

  // Departments (rule 13).
  const departmentsPage = async (
    c: Context<DeskEnv>,
    opts: {
      newName?: string;
      errors?: Errors;
      rename?: { id: string; name: string; error: string };
      status?: 400 | 409;
    } = {},
  ) => {
    const [departments, agents] = await Promise.all([listDepartments(kv), listAgents(kv)]);
    const members: Record<string, number> = {};
    for (const a of agents) {
      if (a.active) { for (const d of a.departments) members[d] = (members[d] ?? 0) + 1; }
    }
    return page(
      c,
      "Departments",
      "/admin/departments",
      <DepartmentsPage
        departments={departments}
        members={members}
        newName={opts.newName ?? ""}
        errors={opts.errors ?? {}}
        rename={opts.rename}
      />,
      { status: opts.status },
    );
  };
  app.get("/departments", (c) => departmentsPage(c));
  app.post("/departments", async (c) => {
    const name = field(await formData(c), "name");
    try {
      const d = await createDepartment(kv, clock, { name });
      return redirectWithFlash(c, "/admin/departments", {
        kind: "ok",
        text: `Department ${d.name} created. Add agents to it on their pages.`,
      });
    } catch (error) {
      return departmentsPage(c, {
        newName: name,
        errors: formErrors(error, "name"),
        status: statusOf(error),
      });
    }
  });
  app.post("/departments/:id", async (c) => {
    const department = await getDepartment(kv, c.req.param("id"));
    const name = field(await formData(c), "name");
    try {
      const d = await updateDepartment(kv, department.id, { name });
      return redirectWithFlash(c, "/admin/departments", {
        kind: "ok",
        text: d.name === department.name
          ? `${d.name} is unchanged.`
          : `Renamed ${department.name} to ${d.name}.`,
      });
    } catch (error) {
      const errors = formErrors(error, "name");
      return departmentsPage(c, {
        rename: { id: department.id, name, error: errors.name ?? Object.values(errors)[0] },
        status: statusOf(error),
      });
    }
  });
  app.post("/departments/:id/active", async (c) => {
    const department = await getDepartment(kv, c.req.param("id"));
    const active = field(await formData(c), "active") === "1";
    await updateDepartment(kv, department.id, { active });
    return redirectWithFlash(c, "/admin/departments", {
      kind: "ok",
      text: active
        ? `${department.name} is active again.`
        : `${department.name} is inactive. Its tickets and agents keep it; new ones cannot pick it.`,
    });
  });

  // Auto-responder texts and timeouts (SPEC "Defaults").
  const textsPage = async (
    c: Context<DeskEnv>,
    opts: {
      texts?: Texts;
      textErrors?: Errors;
      previewed?: boolean;
      timeouts?: Record<keyof Timeouts, string>;
      timeoutErrors?: Errors;
      status?: 400;
    } = {},
  ) => {
    const settings = await getSettings(kv);
    const timeouts = opts.timeouts ??
      Object.fromEntries(
        Object.entries(settings.timeouts).map(([k, v]) => [k, String(v)]),
      ) as Record<keyof Timeouts, string>;
    return page(
      c,
      "Texts & timeouts",
      "/admin/texts",
      <div class="stack">
        <TextsForm
          texts={opts.texts ?? settings.texts}
          errors={opts.textErrors ?? {}}
          previewed={opts.previewed ?? false}
        />
        <TimeoutsForm values={timeouts} errors={opts.timeoutErrors ?? {}} />
      </div>,
      { status: opts.status },
    );
  };
  const typedTexts = (form: FormData): Texts =>
    Object.fromEntries(TEXT_KEYS.map((k) => [k, field(form, k)])) as unknown as Texts;
  const prefixed = (errors: Errors, prefix: string): Errors =>
    Object.fromEntries(
      Object.entries(errors).map((
        [k, v],
      ) => [k.startsWith(prefix) ? k.slice(prefix.length) : k, v]),
    );
  app.get("/texts", (c) => textsPage(c));
  app.post("/texts", async (c) => {
    const form = await formData(c);
    const texts = typedTexts(form);
    const preview = field(form, "op") === "preview";
    try {
      if (preview) {
        // Validate without saving, so the preview shows the same messages a save would.
        parseSettingsUpdate({ texts }, await getSettings(kv));
        return textsPage(c, { texts, previewed: true });
      }
      await updateSettings(kv, { texts });
    } catch (error) {
      return textsPage(c, {
        texts,
        textErrors: prefixed(formErrors(error), "texts."),
        previewed: preview,
        status: 400,
      });
    }
    return redirectWithFlash(c, "/admin/texts", {
      kind: "ok",
      text: "Auto-responder texts saved.",
    });
  });
  /** htmx live preview: the typed texts as the customer reads them; blanks show the saved text. */
  app.post("/texts/preview", async (c) => {
    const form = await formData(c);
    const saved = (await getSettings(kv)).texts;
    const typed = typedTexts(form);
    const texts = Object.fromEntries(
      TEXT_KEYS.map((k) => [k, typed[k] || saved[k]]),
    ) as unknown as Texts;
    return c.html(<TextsPreview texts={texts} />);
  });
  app.post("/timeouts", async (c) => {
    const form = await formData(c);
    const keysOf = Object.keys(TIMEOUT_BOUNDS) as (keyof Timeouts)[];
    const typed = Object.fromEntries(keysOf.map((k) => [k, field(form, k)])) as Record<
      keyof Timeouts,
      string
    >;
    // Whole numbers become numbers; anything else is passed on for the domain to refuse by name.
    const timeouts = Object.fromEntries(
      keysOf.map((k) => [k, /^\d{1,7}$/.test(typed[k]) ? Number(typed[k]) : typed[k]]),
    );
    try {
      await updateSettings(kv, { timeouts });
    } catch (error) {
      return textsPage(c, {
        timeouts: typed,
        timeoutErrors: prefixed(formErrors(error), "timeouts."),
        status: 400,
      });
    }
    return redirectWithFlash(c, "/admin/texts", { kind: "ok", text: "Timeouts saved." });
  });

  // Message templates (rule 18).
  const templatesPage = async (
    c: Context<DeskEnv>,
    draft: TemplateDraft,
    errors: Errors,
    status: 200 | 400 | 409 = 200,
  ) =>
    page(
      c,
      "Message templates",
      "/admin/templates",
      <div class="stack">
        <TemplatesTable templates={await listTemplates(kv)} />
        <TemplateForm draft={draft} errors={errors} />
      </div>,
      { status },
    );
  const templateDraft = (form: FormData): TemplateDraft => ({
    name: field(form, "name"),
    // The body keeps its line breaks and inner spacing; only the ends are trimmed.
    body: field(form, "body"),
    language: field(form, "language"),
  });
  const findTemplate = async (id: string): Promise<Template> => {
    const t = (await listTemplates(kv)).find((t) => t.id === id);
    if (!t) throw new NotFound("Template");
    return t;
  };
  const templatePage = (
    c: Context<DeskEnv>,
    template: Template,
    draft: TemplateDraft,
    errors: Errors,
    status: 200 | 400 | 409 = 200,
  ) =>
    page(
      c,
      `Template ${template.name}`,
      "/admin/templates",
      <div class="stack">
        <TemplateForm draft={draft} errors={errors} id={template.id} />
        <section class="card">
          <div class="card-body inline">
            <p class="grow">Agents can no longer pick a deleted template.</p>
            <form method="post" action={`/admin/templates/${template.id}/delete`}>
              <button type="submit" class="btn btn-danger">Delete template</button>
            </form>
          </div>
        </section>
      </div>,
      { status },
    );
  app.get("/templates", (c) => templatesPage(c, emptyTemplateDraft(), {}));
  app.post("/templates", async (c) => {
    const draft = templateDraft(await formData(c));
    try {
      const t = await createTemplate(kv, clock, draft);
      return redirectWithFlash(c, "/admin/templates", {
        kind: "ok",
        text: `Template ${t.name} (${t.language}) created.`,
      });
    } catch (error) {
      return templatesPage(c, draft, formErrors(error, "name"), statusOf(error));
    }
  });
  app.get("/templates/:id", async (c) => {
    const t = await findTemplate(c.req.param("id"));
    return templatePage(c, t, { name: t.name, body: t.body, language: t.language }, {});
  });
  app.post("/templates/:id", async (c) => {
    const t = await findTemplate(c.req.param("id"));
    const draft = templateDraft(await formData(c));
    try {
      await updateTemplate(kv, t.id, draft);
    } catch (error) {
      return templatePage(c, t, draft, formErrors(error, "name"), statusOf(error));
    }
    return redirectWithFlash(c, "/admin/templates", {
      kind: "ok",
      text: `Template ${draft.name} saved.`,
    });
  });
  app.post("/templates/:id/delete", async (c) => {
    const t = await findTemplate(c.req.param("id"));
    await deleteTemplate(kv, t.id);
    return redirectWithFlash(c, "/admin/templates", {
      kind: "ok",
      text: `Template ${t.name} deleted.`,
    });
  });

  // Canned replies (rule 34).
  const cannedRepliesPage = async (
    c: Context<DeskEnv>,
    draft: CannedReplyDraft,
    errors: Errors,
    status: 200 | 400 | 409 = 200,
  ) => {
    const [replies, departments] = await Promise.all([
      listCannedReplies(deps.desk, c.get("agent")),
      listDepartments(kv),
    ]);
    return page(
      c,
      "Canned replies",
      "/admin/canned-replies",
      <div class="stack">
        <CannedRepliesTable replies={replies} departments={departments} />
        <CannedReplyForm draft={draft} errors={errors} departments={departments} />
      </div>,
      { status },
    );
  };
  const cannedReplyDraft = (form: FormData): CannedReplyDraft => ({
    title: field(form, "title"),
    // The text keeps its line breaks and inner spacing; only the ends are trimmed.
    body: field(form, "body"),
    department: field(form, "department"),
  });
  const cannedReplyInput = (draft: CannedReplyDraft) => ({
    ...draft,
    department: draft.department || null,
  });
  const cannedReplyPage = async (
    c: Context<DeskEnv>,
    reply: CannedReply,
    draft: CannedReplyDraft,
    errors: Errors,
    status: 200 | 400 | 409 = 200,
  ) =>
    page(
      c,
      `Canned reply ${reply.title}`,
      "/admin/canned-replies",
      <div class="stack">
        <CannedReplyForm
          draft={draft}
          errors={errors}
          departments={await listDepartments(kv)}
          id={reply.id}
        />
        <section class="card">
          <div class="card-body inline">
            <p class="grow">Agents can no longer insert a deleted canned reply.</p>
            <form method="post" action={`/admin/canned-replies/${reply.id}/delete`}>
              <button type="submit" class="btn btn-danger">Delete canned reply</button>
            </form>
          </div>
        </section>
      </div>,
      { status },
    );
  app.get("/canned-replies", (c) => cannedRepliesPage(c, emptyCannedReplyDraft(), {}));
  app.post("/canned-replies", async (c) => {
    const draft = cannedReplyDraft(await formData(c));
    try {
      const r = await createCannedReply(kv, clock, cannedReplyInput(draft));
      return redirectWithFlash(c, "/admin/canned-replies", {
        kind: "ok",
        text: `Canned reply ${r.title} created.`,
      });
    } catch (error) {
      return cannedRepliesPage(c, draft, formErrors(error, "title"), statusOf(error));
    }
  });
  app.get("/canned-replies/:id", async (c) => {
    const r = await getCannedReply(kv, c.req.param("id"));
    const draft = { title: r.title, body: r.body, department: r.department ?? "" };
    return cannedReplyPage(c, r, draft, {});
  });
  app.post("/canned-replies/:id", async (c) => {
    const r = await getCannedReply(kv, c.req.param("id"));
    const draft = cannedReplyDraft(await formData(c));
    try {
      await updateCannedReply(kv, r.id, cannedReplyInput(draft));
    } catch (error) {
      return cannedReplyPage(c, r, draft, formErrors(error, "title"), statusOf(error));
    }
    return redirectWithFlash(c, "/admin/canned-replies", {
      kind: "ok",
      text: `Canned reply ${draft.title} saved.`,
    });
  });
  app.post("/canned-replies/:id/delete", async (c) => {
    const r = await getCannedReply(kv, c.req.param("id"));
    await deleteCannedReply(kv, r.id);
    return redirectWithFlash(c, "/admin/canned-replies", {
      kind: "ok",
      text: `Canned reply ${r.title} deleted.`,
    });
  });

  // Integrations (SPEC "Channel settings", rule 31): drawn from the public view only.
  const integrationsPage = async (
    c: Context<DeskEnv>,
    opts: {
      drafts?: Partial<ChannelDrafts>;
      errors?: Partial<Record<SettingsChannel, Errors>>;
      tests?: Partial<Record<ProviderChannel, TestState>>;
      status?: 200 | 400 | 422;
      freshToken?: string;
    } = {},
  ) => {
    const [settings, rotation, agents, hours] = await Promise.all([
      getChannelSettings(kv),
      inboundToken(kv, deps.inboundToken).rotation(),
      listAgents(kv),
      getSettings(kv),
    ]);
    const view = publicChannels(settings);
    const { publicUrl } = deps.config;
    const browsed = browsedOrigin(c);
    return page(
      c,
      "Integrations",
      "/admin/integrations",
      <IntegrationsPage
        view={view}
        drafts={{ ...draftsOf(view), ...opts.drafts }}
        errors={opts.errors ?? {}}
        tests={opts.tests ?? {}}
        addresses={{ base: publicUrl ?? browsed, publicUrl, browsed }}
        inboundToken={{
          fromEnvironment: deps.config.inboundToken !== "",
          rotatedAt: rotation?.at ?? null,
          rotatedBy: rotation ? agents.find((a) => a.id === rotation.by)?.name ?? null : null,
          fresh: opts.freshToken,
          timeZone: hours.hours.timeZone,
        }}
      />,
      { status: opts.status },
    );
  };
  // Rule 58: a new inbound token, shown on this answer only; the old one stops working at once.
  app.get("/integrations/inbound-token", (c) => c.redirect("/admin/integrations", 303));
  app.post("/integrations/inbound-token", async (c) => {
    const { token } = await rotateInboundToken(kv, clock, c.get("agent"), deps.inboundToken);
    return integrationsPage(c, { freshToken: token });
  });
  app.get("/integrations", (c) => integrationsPage(c));
  for (const channel of ["whatsapp", "twilio", "api", "webchat"] as const) {
    // A refused form re-renders at its POST address; reloading that address comes back here.
    app.get(`/integrations/${channel}`, (c) => c.redirect("/admin/integrations", 303));
    app.post(`/integrations/${channel}`, async (c) => {
      const { draft, input } = CHANNEL_FORMS[channel](await formData(c));
      try {
        const settings = await saveChannel(deps, channel, input);
        const on = settings[channel].enabled;
        return redirectWithFlash(c, "/admin/integrations#", {
          kind: "ok",
          text: `${CHANNEL_TITLES[channel]} settings saved; the channel is ${
            on ? "enabled" : "disabled"
          }.`,
        });
      } catch (error) {
        return integrationsPage(c, {
          drafts: { [channel]: draft },
          errors: { [channel]: channelErrors(error, channel) },
          status: error instanceof DeskError && error.status === 422 ? 422 : 400,
        });
      }
    });
  }
  for (const channel of PROVIDER_CHANNELS) {
    app.get(`/integrations/${channel}/test`, (c) => c.redirect("/admin/integrations", 303));
    app.post(`/integrations/${channel}/test`, async (c) => {
      const { draft, errors } = readTestForm(channel, await formData(c));
      const missing = testMissing(publicChannels(await getChannelSettings(kv)), channel);
      if (missing) errors.form = missing;
      if (Object.keys(errors).length) {
        return integrationsPage(c, { tests: { [channel]: { draft, errors } }, status: 400 });
      }
      // Bounded by the provider timeout (CHATDESK_PROVIDER_TIMEOUT_MS).
      const outcome = await deps.courier.sendTest(
        CHANNEL_ROUTE[channel],
        draft.channel,
        draft.to,
        draft.text,
      );
      return integrationsPage(c, { tests: { [channel]: { draft, errors: {}, outcome } } });
    });
  }

  return app;
}

/**
 * The origin this page is browsed at, to compare with CHATDESK_PUBLIC_URL. Behind a TLS proxy
 * the request itself is plain http, so the proxy's X-Forwarded-Proto is believed here, for this
 * warning only (webhook URLs never come from forwarded headers).
 */
function browsedOrigin(c: Context): string {
  const url = new URL(c.req.url);
  const proto = c.req.header("x-forwarded-proto")?.split(",")[0].trim();
  if (proto === "https" && url.protocol === "http:") {
    url.protocol = "https:";
    if (url.port === "80") url.port = "";
  }
  return url.origin;
}
