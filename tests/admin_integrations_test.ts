import assert from "node:assert/strict";
import { getChannelSettings, pauseChannel } from "../domain/channel_settings.ts";
import { SESSION_COOKIE } from "../routes/auth.ts";
import { FakeProvider, metaAccepted } from "./fake_provider.ts";
import { type TestDesk, testDesk } from "./helpers.ts";

const ORIGIN = "http://localhost";
const ACCOUNT_SID = `AC${"a1".repeat(16)}`;
const SERVICE_SID = `MG${"b2".repeat(16)}`;
/** Distinctive secret values: none of them may ever appear in a page (rule 31). */
const SECRET_VALUES = {
  accessToken: "EAAG-access-token-SHOULD-NEVER-SHOW-1",
  appSecret: "app-secret-SHOULD-NEVER-SHOW-2",
  verifyToken: "verify-token-SHOULD-NEVER-SHOW-3",
  authToken: "auth-token-SHOULD-NEVER-SHOW-4",
  secret: "api-secret-SHOULD-NEVER-SHOW-5",
};

interface PageAnswer {
  status: number;
  html: string;
  location: string | null;
  res: Response;
}

/** A browser-like client for the pages: session cookie, form posts with our Origin. */
function browser(t: TestDesk, token: string | null, origin = ORIGIN) {
  const headers = (extra: Record<string, string> = {}) => ({
    accept: "text/html",
    ...(token ? { cookie: `${SESSION_COOKIE}=${token}` } : {}),
    ...extra,
  });
  const answer = async (res: Response): Promise<PageAnswer> => ({
    status: res.status,
    html: await res.text(),
    location: res.headers.get("location"),
    res,
  });
  return {
    get: async (path: string, extra?: Record<string, string>) =>
      answer(await t.app.request(`${origin}${path}`, { headers: headers(extra) })),
    post: async (
      path: string,
      fields: [string, string][] | Record<string, string>,
      opts: { origin?: string | null } = {},
    ) => {
      const body = new URLSearchParams(Array.isArray(fields) ? fields : Object.entries(fields));
      const extra: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
      if (opts.origin !== null) extra.origin = opts.origin ?? origin;
      return answer(
        await t.app.request(`${origin}${path}`, { method: "POST", headers: headers(extra), body }),
      );
    },
  };
}

/** Reads the flash cookie a redirect set, as the next page would show it. */
function flashOf(res: Response): string {
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith("chatdesk_flash="));
  const value = cookie?.split(";")[0].slice("chatdesk_flash=".length) ?? "";
  return decodeURIComponent(decodeURIComponent(value));
}

interface PublicView {
  whatsapp: Record<string, unknown>;
  twilio: Record<string, unknown>;
  api: Record<string, unknown>;
  webchat: Record<string, unknown>;
}

async function channels(desk: TestDesk, token: string): Promise<PublicView> {
  const res = await desk.json<PublicView>("GET", "/api/channels", { token });
  assert.equal(res.status, 200);
  return res.body;
}

function assertNoSecret(html: string, where: string) {
  for (const [name, value] of Object.entries(SECRET_VALUES)) {
    assert.ok(!html.includes(value), `${name} shown in ${where}`);
  }
}

/** Every secret set through the API, the channels left disabled. */
async function setAllSecrets(desk: TestDesk, token: string) {
  const { accessToken, appSecret, verifyToken, authToken, secret } = SECRET_VALUES;
  for (
    const [channel, body] of [
      ["whatsapp", { phoneNumberId: "106540352242922", accessToken, appSecret, verifyToken }],
      ["twilio", { accountSid: ACCOUNT_SID, authToken, fromNumber: "+15550001111" }],
      ["api", { webhookUrl: "https://gateway.example/hook", secret }],
    ] as const
  ) {
    const res = await desk.json("PUT", `/api/channels/${channel}`, { token, body });
    assert.equal(res.status, 200, `PUT ${channel}: ${JSON.stringify(res.body)}`);
  }
}

const FORMS: [string, Record<string, string>][] = [
  ["/admin/integrations/whatsapp", { enabled: "1", phoneNumberId: "123" }],
  ["/admin/integrations/twilio", { accountSid: ACCOUNT_SID }],
  ["/admin/integrations/api", { webhookUrl: "https://evil.example/hook" }],
  ["/admin/integrations/webchat", { title: "Evil", color: "#000000" }],
  ["/admin/integrations/whatsapp/test", { to: "+27820000001", text: "hi" }],
  ["/admin/integrations/twilio/test", { to: "+15550001111", text: "hi" }],
  ["/admin/integrations/api/test", { channel: "sms", to: "+15550001111", text: "hi" }],
];

Deno.test("[routes] admin integrations: who may use the page", async (t) => {
  const desk = await testDesk();
  const admin = await desk.person("admin");
  const supervisor = await desk.person("supervisor");
  const agent = await desk.person("agent");
  const before = await channels(desk, admin.token);

  await t.step("an admin sees one page with a card per channel and its tab current", async () => {
    const page = await browser(desk, admin.token).get("/admin/integrations");
    assert.equal(page.status, 200);
    assert.equal((page.html.match(/<h1[ >]/g) ?? []).length, 1);
    assert.match(page.html, /<h1>Integrations<\/h1>/);
    assert.match(page.html, /href="\/admin\/integrations" aria-current="page">Integrations</);
    for (const title of ["WhatsApp Cloud API", "Twilio SMS", "API channel", "Web chat"]) {
      assert.match(page.html, new RegExp(`<h2 id="[a-z]+">${title}</h2>`), title);
    }
    assert.equal((page.html.match(/>Disabled</g) ?? []).length, 4, "nothing is set up yet");
    assert.equal((page.html.match(/Send a test message/g) ?? []).length, 3);
  });

  await t.step("every input has a label", async () => {
    const { html } = await browser(desk, admin.token).get("/admin/integrations");
    const labelled = new Set([...html.matchAll(/<label[^>]* for="([^"]+)"/g)].map((m) => m[1]));
    const controls = [...html.matchAll(/<(input|select|textarea)\b([^>]*)>/g)]
      .filter((m) => !/type="hidden"/.test(m[2]));
    assert.ok(controls.length > 20);
    for (const [tag, , attrs] of controls) {
      const id = attrs.match(/\bid="([^"]+)"/)?.[1];
      const wrapped = /type="(checkbox|radio)"/.test(attrs); // inside <label class="check">
      assert.ok(wrapped || (id && labelled.has(id)), `unlabelled control: ${tag}`);
    }
  });

  await t.step("an agent and a supervisor get 403 on the page and every form", async () => {
    for (const person of [agent, supervisor]) {
      const b = browser(desk, person.token);
      assert.equal((await b.get("/admin/integrations")).status, 403);
      for (const [path, fields] of FORMS) {
        assert.equal((await b.post(path, fields)).status, 403, `POST ${path}`);
      }
    }
    assert.deepEqual(await channels(desk, admin.token), before, "nothing changed");
  });

  await t.step("signed out, the page sends you to sign in", async () => {
    const page = await browser(desk, null).get("/admin/integrations");
    assert.equal(page.status, 303);
    assert.equal(page.location, "/login?next=%2Fadmin%2Fintegrations");
  });

  await t.step(
    "a form posted from another site, or with no origin, is refused (CSRF)",
    async () => {
      const b = browser(desk, admin.token);
      for (const origin of ["https://evil.example", null]) {
        for (const [path, fields] of FORMS) {
          assert.equal((await b.post(path, fields, { origin })).status, 403, `POST ${path}`);
        }
      }
      assert.deepEqual(await channels(desk, admin.token), before, "nothing changed");
    },
  );

  await desk.close();
});

Deno.test("[routes] admin integrations: secrets are write-only (rule 31)", async (t) => {
  const desk = await testDesk();
  const admin = await desk.person("admin");
  const b = browser(desk, admin.token);
  await setAllSecrets(desk, admin.token);

  await t.step("the page says which secrets are set and never shows one", async () => {
    const page = await b.get("/admin/integrations");
    assert.equal(page.status, 200);
    assertNoSecret(page.html, "the page");
    const inputs = [...page.html.matchAll(/<input[^>]*type="password"[^>]*>/g)].map((m) => m[0]);
    assert.equal(inputs.length, 5, "one password input per secret");
    for (const input of inputs) {
      assert.doesNotMatch(input, /\bvalue=/, "a secret input is always empty");
      assert.match(input, /placeholder="set — leave empty to keep"/);
    }
    for (const name of Object.keys(SECRET_VALUES)) {
      assert.match(page.html, new RegExp(`name="${name}.clear"`), `a Clear box for ${name}`);
    }
  });

  await t.step("a refused save keeps typed values but not typed secrets", async () => {
    const typed = "typed-token-SHOULD-NOT-COME-BACK";
    const page = await b.post("/admin/integrations/whatsapp", {
      enabled: "1",
      phoneNumberId: "not-digits",
      accessToken: typed,
    });
    assert.equal(page.status, 400);
    assert.match(page.html, /id="whatsapp-phoneNumberId-error"[^>]*>Digits only/);
    assert.match(page.html, /value="not-digits"/, "the typed ID is kept");
    assert.ok(!page.html.includes(typed), "the typed secret is not echoed");
    assertNoSecret(page.html, "a refused save");
    const saved = await getChannelSettings(desk.kv);
    assert.equal(saved.whatsapp.phoneNumberId, "106540352242922", "nothing saved");
    assert.equal(saved.whatsapp.accessToken, SECRET_VALUES.accessToken);
  });

  await t.step("an empty secret field keeps the saved secret", async () => {
    const res = await b.post("/admin/integrations/whatsapp", {
      enabled: "1",
      phoneNumberId: "106540352242922",
      accessToken: "",
      appSecret: "   ",
      verifyToken: "",
    });
    assert.equal(res.status, 303);
    assert.equal(res.location, "/admin/integrations#");
    assert.match(flashOf(res.res), /WhatsApp Cloud API settings saved; the channel is enabled/);
    const saved = (await getChannelSettings(desk.kv)).whatsapp;
    assert.equal(saved.enabled, true);
    assert.equal(saved.accessToken, SECRET_VALUES.accessToken);
    assert.equal(saved.appSecret, SECRET_VALUES.appSecret);
    assert.equal(saved.verifyToken, SECRET_VALUES.verifyToken);
    const view = await channels(desk, admin.token);
    assert.equal(view.whatsapp.status, "active");
  });

  await t.step("a typed secret replaces the saved one", async () => {
    const res = await b.post("/admin/integrations/api", {
      webhookUrl: "https://gateway.example/hook",
      secret: "a-new-api-secret",
    });
    assert.equal(res.status, 303);
    assert.equal((await getChannelSettings(desk.kv)).api.secret, "a-new-api-secret");
  });

  await t.step("Clear removes a secret", async () => {
    const res = await b.post("/admin/integrations/twilio", {
      accountSid: ACCOUNT_SID,
      sender: "fromNumber",
      fromNumber: "+15550001111",
      authToken: "",
      "authToken.clear": "1",
    });
    assert.equal(res.status, 303);
    const view = await channels(desk, admin.token);
    assert.equal(view.twilio.authTokenSet, false);
    assert.equal(view.twilio.accountSid, ACCOUNT_SID, "the rest is kept");
    const page = await b.get("/admin/integrations");
    assert.doesNotMatch(page.html, /name="authToken.clear"/, "nothing left to clear");
    assert.match(page.html, /name="authToken"[^>]*placeholder="not set"/);
  });

  await desk.close();
});

Deno.test("[routes] admin integrations: saving each form", async (t) => {
  const desk = await testDesk();
  const admin = await desk.person("admin");
  const b = browser(desk, admin.token);

  await t.step("enabling with missing fields names them and stores nothing", async () => {
    const page = await b.post("/admin/integrations/whatsapp", {
      enabled: "1",
      phoneNumberId: "106540352242922",
    });
    assert.equal(page.status, 422);
    assert.match(
      page.html,
      /To enable WhatsApp Cloud API, fill in: Access token, App secret, Verify token\./,
    );
    for (const name of ["accessToken", "appSecret", "verifyToken"]) {
      assert.match(page.html, new RegExp(`id="whatsapp-${name}-error"[^>]*>Needed to enable`));
    }
    assert.match(page.html, /value="106540352242922"/, "the typed ID is kept");
    assert.match(page.html, /id="whatsapp-enabled" name="enabled" value="1" checked/);
    const view = await channels(desk, admin.token);
    assert.equal(view.whatsapp.phoneNumberId, null);
    assert.equal(view.whatsapp.enabled, false);
  });

  await t.step("the WhatsApp form stores the settings", async () => {
    const res = await b.post("/admin/integrations/whatsapp", {
      enabled: "1",
      phoneNumberId: "106540352242922",
      accessToken: "tok-1",
      appSecret: "sec-1",
      verifyToken: "ver-1",
    });
    assert.equal(res.status, 303);
    const { whatsapp } = await channels(desk, admin.token);
    assert.deepEqual(whatsapp, {
      enabled: true,
      phoneNumberId: "106540352242922",
      accessTokenSet: true,
      appSecretSet: true,
      verifyTokenSet: true,
      status: "active",
    });
    const page = await b.get("/admin/integrations");
    assert.match(
      page.html,
      /<h2 id="whatsapp">WhatsApp Cloud API<\/h2><span class="badge badge-ok">Active/,
    );
  });

  await t.step("unticking Enabled disables the channel and keeps its settings", async () => {
    const res = await b.post("/admin/integrations/whatsapp", { phoneNumberId: "106540352242922" });
    assert.equal(res.status, 303);
    assert.match(flashOf(res.res), /the channel is disabled/);
    const { whatsapp } = await channels(desk, admin.token);
    assert.equal(whatsapp.enabled, false);
    assert.equal(whatsapp.accessTokenSet, true);
  });

  await t.step("Twilio: the chosen sender is saved and the other cleared", async () => {
    const first = await b.post("/admin/integrations/twilio", {
      enabled: "1",
      accountSid: ACCOUNT_SID,
      authToken: "twilio-token",
      sender: "fromNumber",
      fromNumber: "+15550001111",
      messagingServiceSid: "",
    });
    assert.equal(first.status, 303);
    let { twilio } = await channels(desk, admin.token);
    assert.equal(twilio.fromNumber, "+15550001111");
    assert.equal(twilio.status, "active");
    const second = await b.post("/admin/integrations/twilio", {
      enabled: "1",
      accountSid: ACCOUNT_SID,
      sender: "messagingServiceSid",
      fromNumber: "+15550001111",
      messagingServiceSid: SERVICE_SID,
    });
    assert.equal(second.status, 303);
    ({ twilio } = await channels(desk, admin.token));
    assert.equal(twilio.fromNumber, null);
    assert.equal(twilio.messagingServiceSid, SERVICE_SID);
    assert.equal(twilio.authTokenSet, true);
    const page = await b.get("/admin/integrations");
    assert.match(page.html, /id="twilio-sender-messagingServiceSid"[^>]*checked/);
  });

  await t.step("Twilio: a malformed field is refused next to it", async () => {
    const page = await b.post("/admin/integrations/twilio", {
      accountSid: "XX123",
      sender: "fromNumber",
      fromNumber: "+15550001111",
    });
    assert.equal(page.status, 400);
    assert.match(page.html, /id="twilio-accountSid-error"[^>]*>AC followed by 32/);
    assert.match(page.html, /value="XX123"/);
    assert.equal((await channels(desk, admin.token)).twilio.accountSid, ACCOUNT_SID);
  });

  await t.step("the API channel form stores the settings", async () => {
    const bad = await b.post("/admin/integrations/api", {
      enabled: "1",
      webhookUrl: "http://gateway.example/hook",
      secret: "s",
    });
    assert.equal(bad.status, 400);
    assert.match(bad.html, /id="api-webhookUrl-error"[^>]*>An https:\/\/ address/);
    const res = await b.post("/admin/integrations/api", {
      enabled: "1",
      webhookUrl: "https://gateway.example/hook",
      secret: "api-secret",
    });
    assert.equal(res.status, 303);
    const { api } = await channels(desk, admin.token);
    assert.deepEqual(api, {
      enabled: true,
      webhookUrl: "https://gateway.example/hook",
      secretSet: true,
      status: "active",
    });
  });

  await t.step("the web chat form stores origins, title, greeting and colour", async () => {
    const res = await b.post("/admin/integrations/webchat", {
      enabled: "1",
      allowedOrigins: "https://shop.example\r\n\r\n  http://localhost:3000  \r\n",
      title: "Talk to us",
      greeting: "Hi! How can we help?",
      color: "#FF8800",
    });
    assert.equal(res.status, 303);
    const { webchat } = await channels(desk, admin.token);
    assert.deepEqual(webchat, {
      enabled: true,
      allowedOrigins: ["https://shop.example", "http://localhost:3000"],
      title: "Talk to us",
      greeting: "Hi! How can we help?",
      color: "#ff8800",
    });
    const page = await b.get("/admin/integrations");
    assert.match(page.html, /https:\/\/shop.example\nhttp:\/\/localhost:3000<\/textarea>/);
    assert.match(page.html, /type="color" value="#ff8800"/);
  });

  await t.step("a web chat origin with a path is refused and the typed list kept", async () => {
    const page = await b.post("/admin/integrations/webchat", {
      enabled: "1",
      allowedOrigins: "https://shop.example/store",
      title: "Talk to us",
      greeting: "",
      color: "#ff8800",
    });
    assert.equal(page.status, 400);
    assert.match(page.html, /id="webchat-allowedOrigins-error"[^>]*>One exact origin per line/);
    assert.match(page.html, />https:\/\/shop.example\/store<\/textarea>/);
    const { webchat } = await channels(desk, admin.token);
    assert.deepEqual(webchat.allowedOrigins, ["https://shop.example", "http://localhost:3000"]);
  });

  await t.step("a channel paused by an auth failure says so on its card", async () => {
    const { whatsapp } = await getChannelSettings(desk.kv);
    await b.post("/admin/integrations/whatsapp", {
      enabled: "1",
      phoneNumberId: "106540352242922",
    });
    await pauseChannel(desk.kv, "whatsapp", whatsapp.credentialsVersion, {
      code: "190",
      message: "Error validating access token",
    }, desk.clock.now());
    const page = await b.get("/admin/integrations");
    assert.match(page.html, /badge-warn">Paused/);
    assert.match(
      page.html,
      /Paused: the provider refused the credentials \(190: Error validating access token\) — enter new\s+credentials to resume/,
    );
    const res = await b.post("/admin/integrations/whatsapp", {
      enabled: "1",
      phoneNumberId: "106540352242922",
      accessToken: "tok-2",
    });
    assert.equal(res.status, 303);
    assert.equal((await channels(desk, admin.token)).whatsapp.status, "active");
  });

  await desk.close();
});

Deno.test("[routes] admin integrations: webhook addresses", async (t) => {
  await t.step(
    "they come from CHATDESK_PUBLIC_URL, with a warning when browsing elsewhere",
    async () => {
      const desk = await testDesk({ providers: { publicUrl: "https://desk.example/support" } });
      const admin = await desk.person("admin");
      const page = await browser(desk, admin.token).get("/admin/integrations");
      for (
        const path of [
          "/webhooks/whatsapp",
          "/webhooks/twilio",
          "/webhooks/twilio/status",
          "/api/inbound",
          "/api/inbound/status",
        ]
      ) {
        assert.match(
          page.html,
          new RegExp(`<code>https://desk.example/support${path}</code>`),
          path,
        );
      }
      assert.match(page.html, /https:\/\/desk.example\/support\/webchat\/widget.js/);
      assert.match(page.html, /Check the public address/);
      assert.match(page.html, /you are browsing <code>http:\/\/localhost<\/code>/);
      await desk.close();
    },
  );

  await t.step("no warning when the page is browsed at the public address", async () => {
    const desk = await testDesk({ providers: { publicUrl: "https://desk.example" } });
    const admin = await desk.person("admin");
    const direct = await browser(desk, admin.token, "https://desk.example").get(
      "/admin/integrations",
    );
    assert.equal(direct.status, 200);
    assert.doesNotMatch(direct.html, /Check the public address/);
    assert.match(direct.html, /Webhook addresses use CHATDESK_PUBLIC_URL/);
    // Behind a TLS proxy the desk itself is spoken to in plain http.
    const proxied = await browser(desk, admin.token, "http://desk.example").get(
      "/admin/integrations",
      { "x-forwarded-proto": "https" },
    );
    assert.doesNotMatch(proxied.html, /Check the public address/);
    await desk.close();
  });

  await t.step("without CHATDESK_PUBLIC_URL the page says it must be set", async () => {
    const desk = await testDesk({ providers: { publicUrl: null } });
    const admin = await desk.person("admin");
    const b = browser(desk, admin.token);
    const page = await b.get("/admin/integrations");
    assert.match(page.html, /CHATDESK_PUBLIC_URL must be set/);
    assert.match(page.html, /<code>http:\/\/localhost\/webhooks\/whatsapp<\/code>/);
    assert.match(page.html, /http:\/\/localhost\/webchat\/widget.js/);
    const twilio = await b.post("/admin/integrations/twilio", {
      enabled: "1",
      accountSid: ACCOUNT_SID,
      authToken: "t",
      sender: "fromNumber",
      fromNumber: "+15550001111",
    });
    assert.equal(twilio.status, 422);
    assert.match(twilio.html, /To enable Twilio SMS, fill in: CHATDESK_PUBLIC_URL/);
    assert.equal((await getChannelSettings(desk.kv)).twilio.accountSid, null);
    await desk.close();
  });
});

Deno.test("[routes] admin integrations: send a test message", async (t) => {
  const fake = FakeProvider.start(metaAccepted);
  const desk = await testDesk({ providers: { whatsappApiBase: fake.url } });
  const admin = await desk.person("admin");
  const b = browser(desk, admin.token);

  await t.step("before set-up it says what to save first and calls nobody", async () => {
    const page = await b.post("/admin/integrations/whatsapp/test", {
      to: "+27820000001",
      text: "Hello",
    });
    assert.equal(page.status, 400);
    assert.match(page.html, /Save the Phone number ID, Access token first/);
    assert.equal(fake.requests.length, 0);
  });

  await setAllSecrets(desk, admin.token);

  await t.step("an address that is not a number is refused next to it", async () => {
    const page = await b.post("/admin/integrations/whatsapp/test", { to: "bob", text: "Hi" });
    assert.equal(page.status, 400);
    assert.match(page.html, /id="whatsapp-test-to-error"[^>]*>A number in international format/);
    assert.match(page.html, /value="bob"/);
    assert.equal(fake.requests.length, 0);
  });

  await t.step("an accepted test shows the provider's id (channel still disabled)", async () => {
    const page = await b.post("/admin/integrations/whatsapp/test", {
      to: "+27820000001",
      text: "Hello from the desk",
    });
    assert.equal(page.status, 200);
    assert.match(page.html, /Accepted by the provider, id <code[^>]*>wamid.TEST000000<\/code>/);
    assert.match(page.html, /value="\+27820000001"/, "the form keeps what was typed");
    assertNoSecret(page.html, "the test answer");
    const [request] = await fake.waitFor(1);
    assert.equal(request.path, "/106540352242922/messages");
    assert.equal(request.headers.get("authorization"), `Bearer ${SECRET_VALUES.accessToken}`);
    const body = JSON.parse(request.body);
    assert.equal(body.to, "27820000001");
    assert.deepEqual(body.text, { body: "Hello from the desk" });
  });

  await t.step("a refusal shows the provider's code and message", async () => {
    fake.script({
      status: 400,
      body: { error: { message: "(#100) Invalid parameter", code: 100, type: "OAuthException" } },
    });
    const page = await b.post("/admin/integrations/whatsapp/test", {
      to: "+27820000001",
      text: "Hello",
    });
    assert.equal(page.status, 200);
    assert.match(
      page.html,
      /Refused by the provider: <code>100<\/code> \(#100\) Invalid parameter/,
    );
    assert.equal(fake.requests.length, 2);
  });

  await t.step("the API channel test goes to the webhook, on the chosen channel", async () => {
    await desk.json("PUT", "/api/channels/api", {
      token: admin.token,
      body: { webhookUrl: `${fake.url}/hook` },
    });
    fake.script({ status: 200, body: {} });
    const page = await b.post("/admin/integrations/api/test", {
      channel: "sms",
      to: "+15550001111",
      text: "Ping",
    });
    assert.equal(page.status, 200);
    assert.match(page.html, /Accepted by the provider \(it gave no id\)/);
    assert.match(page.html, /<option value="sms" selected>SMS<\/option>/);
    const request = (await fake.waitFor(3))[2];
    assert.equal(request.path, "/hook");
    assert.equal(JSON.parse(request.body).channel, "sms");
    assert.match(request.headers.get("x-chatdesk-signature") ?? "", /^sha256=[0-9a-f]{64}$/);
  });

  await desk.close();
  await fake.close();
});

Deno.test("[routes] admin integrations: the web chat card frames a live preview", async (t) => {
  const desk = await testDesk();
  const admin = await desk.person("admin");
  const b = browser(desk, admin.token);
  const put = await desk.json("PUT", "/api/channels/webchat", {
    token: admin.token,
    body: { title: "Shop <help>", greeting: 'Hi & "welcome"', color: "#0a7d4f" },
  });
  assert.equal(put.status, 200);
  /** The preview frame's tag, and the query its src carries. */
  const frameOf = (html: string) => {
    const tag = html.match(/<iframe\b[^>]*>/)?.[0] ?? "";
    const src = (tag.match(/ src="([^"]*)"/)?.[1] ?? "").replace(/&amp;/g, "&");
    return { tag, src, query: Object.fromEntries(new URL(src, ORIGIN).searchParams) };
  };

  await t.step("the card frames the preview with the saved look, and its script", async () => {
    const { html } = await b.get("/admin/integrations");
    const { tag, src, query } = frameOf(html);
    assert.match(tag, /title="Web chat preview"/);
    assert.match(tag, /id="webchat-preview"/);
    assert.match(tag, /data-form="webchat-form"/, "the script finds the form it follows");
    assert.match(
      html,
      /<form id="webchat-form" method="post" action="\/admin\/integrations\/webchat/,
    );
    assert.ok(src.startsWith("/webchat/preview?"), src);
    assert.deepEqual(query, { title: "Shop <help>", greeting: 'Hi & "welcome"', color: "#0a7d4f" });
    assert.ok(!html.includes("Shop <help>"), "the title is escaped in the page");
    const script = html.match(/<script src="(\/static\/webchat_preview\.js\?v=[0-9a-z]+)" defer>/);
    assert.ok(script, "the preview script is on the page");
    const js = await desk.call("GET", script[1]);
    assert.equal(js.status, 200);
    assert.match(js.headers.get("content-type") ?? "", /^text\/javascript/);
    assert.match(await js.text(), /webchat-preview/);
    // The desk's pages may frame their own origin only.
    const csp = (await b.get("/admin/integrations")).res.headers.get("content-security-policy");
    assert.match(csp ?? "", /default-src 'self'/);
    assert.doesNotMatch(csp ?? "", /frame-src|child-src/, "frames fall back to 'self'");
  });

  await t.step("the framed page answers the admin with what the card asked for", async () => {
    const { html } = await b.get("/admin/integrations");
    const preview = await b.get(frameOf(html).src);
    assert.equal(preview.status, 200);
    assert.match(preview.html, /data-mode="preview"/);
    assert.match(preview.html, /data-title="Shop &lt;help&gt;"/);
    assert.match(preview.html, /data-color="#0a7d4f"/);
  });

  await t.step("a refused form's preview shows what was typed", async () => {
    const page = await b.post("/admin/integrations/webchat", {
      allowedOrigins: "https://shop.example/with/a/path",
      title: "Ask Ana",
      greeting: "",
      color: "#b42318",
    });
    assert.equal(page.status, 400);
    assert.deepEqual(frameOf(page.html).query, {
      title: "Ask Ana",
      greeting: "",
      color: "#b42318",
    });
    const { webchat } = await channels(desk, admin.token);
    assert.equal(webchat.title, "Shop <help>", "nothing saved");
  });

  await t.step("the three test forms are told apart by their card's name", async () => {
    const { html } = await b.get("/admin/integrations");
    for (const channel of ["whatsapp", "twilio", "api"]) {
      assert.match(html, new RegExp(`aria-labelledby="${channel}-test ${channel}"`), channel);
    }
  });

  await desk.close();
});
