/** Approved WhatsApp message templates with {{1}}-style parameters (rule 18). */
import type { Clock } from "./clock.ts";
import { Conflict, Invalid, NotFound } from "./errors.ts";
import { newId } from "./ids.ts";
import { keys } from "./keys.ts";
import type { Template } from "./types.ts";
import { MAX_MESSAGE_LENGTH } from "./channels.ts";
import { asBody, str } from "./validate.ts";

const PARAM = /\{\{(\d+)\}\}/g;

export async function listTemplates(kv: Deno.Kv): Promise<Template[]> {
  const out: Template[] = [];
  for await (const entry of kv.list<Template>({ prefix: keys.templates() })) out.push(entry.value);
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** How many parameters a body takes: the highest {{n}}. */
export function parameterCount(body: string): number {
  return Math.max(0, ...[...body.matchAll(PARAM)].map((m) => Number(m[1])));
}

function parseTemplate(input: unknown, current?: Template): Omit<Template, "id"> {
  const body = asBody(input);
  const name = (current && body.name === undefined ? current.name : str(body, "name", { max: 80 }))
    .trim();
  if (!/^[a-z0-9_]+$/.test(name)) {
    throw new Invalid("invalid_field", '"name" may hold lowercase letters, digits and "_" only.', {
      name: "Use a-z, 0-9 and _.",
    });
  }
  const text = current && body.body === undefined ? current.body : str(body, "body", { max: 1024 });
  const numbers = [...text.matchAll(PARAM)].map((m) => Number(m[1]));
  const count = parameterCount(text);
  for (let n = 1; n <= count; n++) {
    if (!numbers.includes(n)) {
      throw new Invalid("invalid_field", `Parameter {{${n}}} is missing from the body.`, {
        body: "Number parameters 1, 2, 3… without gaps.",
      });
    }
  }
  const language = current && body.language === undefined
    ? current.language
    : str(body, "language", { max: 10, optional: true }) ?? "en";
  if (!/^[a-z]{2,3}(_[A-Z]{2})?$/.test(language)) {
    throw new Invalid("invalid_field", '"language" must look like en or en_US.', {
      language: "Like en or en_US.",
    });
  }
  return { name, body: text, language };
}

export async function createTemplate(kv: Deno.Kv, clock: Clock, input: unknown): Promise<Template> {
  const template: Template = { id: newId(clock.now()), ...parseTemplate(input) };
  if (
    (await listTemplates(kv)).some((t) =>
      t.name === template.name && t.language === template.language
    )
  ) {
    throw new Conflict(
      "template_exists",
      `A template "${template.name}" (${template.language}) exists already.`,
    );
  }
  await kv.set(keys.template(template.id), template);
  return template;
}

export async function updateTemplate(kv: Deno.Kv, id: string, input: unknown): Promise<Template> {
  const entry = await kv.get<Template>(keys.template(id));
  if (!entry.value) throw new NotFound("Template");
  const next = { ...entry.value, ...parseTemplate(input, entry.value) };
  const clash = (await listTemplates(kv)).some((t) =>
    t.id !== id && t.name === next.name && t.language === next.language
  );
  if (clash) {
    throw new Conflict(
      "template_exists",
      `A template "${next.name}" (${next.language}) exists already.`,
    );
  }
  if (!(await kv.atomic().check(entry).set(keys.template(id), next).commit()).ok) {
    throw new Conflict("edit_conflict", "The template changed meanwhile; try again.");
  }
  return next;
}

export async function deleteTemplate(kv: Deno.Kv, id: string): Promise<void> {
  if (!(await kv.get(keys.template(id))).value) throw new NotFound("Template");
  await kv.delete(keys.template(id));
}

/** Finds a template by id or name and fills its parameters; wrong counts are refused. */
export async function renderTemplate(
  kv: Deno.Kv,
  idOrName: string,
  params: unknown,
): Promise<{ template: Template; text: string }> {
  const templates = await listTemplates(kv);
  const template = templates.find((t) => t.id === idOrName || t.name === idOrName);
  if (!template) throw new NotFound("Template");
  const values = params ?? [];
  if (!Array.isArray(values) || values.some((v) => typeof v !== "string" || v.length > 1024)) {
    throw new Invalid("invalid_field", '"params" must be a list of strings.', {
      params: "A list of texts.",
    });
  }
  const count = parameterCount(template.body);
  if (values.length !== count) {
    throw new Invalid(
      "wrong_parameter_count",
      `Template "${template.name}" takes ${count} parameter(s), not ${values.length}.`,
    );
  }
  if (values.some((v) => v.trim() === "")) {
    throw new Invalid("invalid_field", "Every template parameter needs a value.");
  }
  const text = template.body.replace(PARAM, (_, n) => values[Number(n) - 1]);
  if (text.length > MAX_MESSAGE_LENGTH) {
    throw new Invalid(
      "text_too_long",
      `The filled template has over ${MAX_MESSAGE_LENGTH} characters.`,
    );
  }
  return { template, text };
}
