/**
 * Start-up configuration: where the server listens (`HOST`) and the URL it prints, and what Deno
 * Deploy requires (rule 42: its own store, no generated secret printed into its logs).
 */
import assert from "node:assert/strict";
import {
  browseUrl,
  ConfigError,
  DEPLOY_KV_HELP,
  isFileStore,
  isOnDeploy,
  parseConfig,
  PLATFORM_KV,
  providerConfig,
} from "../domain/config.ts";
import { kvWriteDirectory } from "../scripts/kv_write_path.ts";
import { freePort, mainCommand, startMain } from "./main_process.ts";

/** What Deno Deploy's environment holds once the README's Deploy section is followed. */
const ON_DEPLOY = {
  DENO_DEPLOYMENT_ID: "abc",
  CHATDESK_ADMIN_PASSWORD: "deploy-pass-1",
  CHATDESK_INBOUND_TOKEN: "deploy-inbound-token-0123",
};

/** Asserts `parseConfig(env)` stops the start with a message containing every one of `parts`. */
function refused(env: Record<string, string>, ...parts: string[]): string {
  let message = "";
  assert.throws(() => parseConfig(env), (e) => {
    assert.ok(e instanceof ConfigError, String(e));
    message = e.message;
    return true;
  });
  for (const part of parts) assert.ok(message.includes(part), `${part} not in:\n${message}`);
  return message;
}

Deno.test("[domain] HOST: only this machine by default, every interface when asked", async (t) => {
  await t.step("with no HOST the server listens on 127.0.0.1", () => {
    assert.equal(parseConfig({}).hostname, "127.0.0.1");
    assert.equal(parseConfig({}, { demo: true }).hostname, "127.0.0.1");
    assert.equal(parseConfig({ HOST: "" }).hostname, "127.0.0.1");
  });
  await t.step("HOST overrides it (names, IPv4, IPv6 with or without brackets)", () => {
    assert.equal(parseConfig({ HOST: "0.0.0.0" }).hostname, "0.0.0.0");
    assert.equal(parseConfig({ HOST: "localhost" }).hostname, "localhost");
    assert.equal(parseConfig({ HOST: "::" }).hostname, "::");
    assert.equal(parseConfig({ HOST: "[::1]" }).hostname, "::1");
  });
  await t.step("on Deno Deploy (which picks the address itself) every interface", () => {
    assert.equal(parseConfig(ON_DEPLOY).hostname, "0.0.0.0");
  });
  await t.step("a HOST that is no address stops the start, naming the variable", () => {
    for (const bad of ["http://0.0.0.0", "0.0.0.0:8000", "my host", "-x"]) {
      assert.throws(() => parseConfig({ HOST: bad }), (e) => {
        assert.ok(e instanceof ConfigError && e.message.includes("HOST"), String(e));
        return true;
      });
    }
  });
  await t.step("the printed URL is one a browser on this machine can open", () => {
    assert.equal(browseUrl("127.0.0.1", 8000), "http://127.0.0.1:8000");
    assert.equal(browseUrl("0.0.0.0", 8000), "http://127.0.0.1:8000");
    assert.equal(browseUrl("::", 8000), "http://[::1]:8000");
    assert.equal(browseUrl("::1", 8000), "http://[::1]:8000");
    assert.equal(browseUrl("desk.lan", 80), "http://desk.lan:80");
  });
});

Deno.test("[domain] rule 42: on Deno Deploy only the assigned store, and no printed secrets", async (t) => {
  await t.step("Deploy is known by DENO_DEPLOYMENT_ID", () => {
    assert.equal(isOnDeploy({ DENO_DEPLOYMENT_ID: "abc" }), true);
    assert.equal(isOnDeploy({ DENO_DEPLOYMENT_ID: "" }), false);
    assert.equal(isOnDeploy({}), false);
  });
  await t.step("with no CHATDESK_KV_PATH the desk opens the database Deploy assigned", () => {
    assert.equal(parseConfig(ON_DEPLOY).kvPath, PLATFORM_KV);
    assert.equal(parseConfig({ ...ON_DEPLOY, CHATDESK_KV_PATH: "" }).kvPath, PLATFORM_KV);
    assert.equal(parseConfig({ ...ON_DEPLOY, CHATDESK_KV_PATH: "platform" }).kvPath, PLATFORM_KV);
  });
  await t.step("a file or :memory: store is refused there, saying how to assign one", () => {
    for (const path of [":memory:", "./data/chatdesk.sqlite3", "/tmp/desk.sqlite3", "desk"]) {
      const message = refused(
        { ...ON_DEPLOY, CHATDESK_KV_PATH: path },
        "CHATDESK_KV_PATH",
        `"${path}"`,
        DEPLOY_KV_HELP,
      );
      assert.match(message, /Provision Database/);
      assert.match(message, /Assign/);
    }
  });
  await t.step("the same paths are fine anywhere else", () => {
    assert.equal(parseConfig({ CHATDESK_KV_PATH: ":memory:" }).kvPath, ":memory:");
    assert.equal(parseConfig({ CHATDESK_KV_PATH: "/tmp/d.sqlite3" }).kvPath, "/tmp/d.sqlite3");
  });
  await t.step("a KV Connect URL stays allowed there (a shared, remote store)", () => {
    const url = "https://kv.example.com/db";
    assert.equal(parseConfig({ ...ON_DEPLOY, CHATDESK_KV_PATH: url }).kvPath, url);
  });
  await t.step("CHATDESK_ADMIN_PASSWORD is required there (a generated one lands in logs)", () => {
    const { CHATDESK_ADMIN_PASSWORD: _, ...env } = ON_DEPLOY;
    refused(env, "CHATDESK_ADMIN_PASSWORD is required on Deno Deploy", "logs");
    assert.equal(parseConfig({}).adminPassword, null, "elsewhere it is still generated");
  });
  await t.step("CHATDESK_INBOUND_TOKEN is required there too, for the same reason", () => {
    const { CHATDESK_INBOUND_TOKEN: _, ...env } = ON_DEPLOY;
    refused(env, "CHATDESK_INBOUND_TOKEN is required on Deno Deploy", "logs");
    assert.equal(parseConfig({}).inboundToken, "", "elsewhere it is still generated");
  });
  await t.step("every problem is named at once", () => {
    refused(
      { DENO_DEPLOYMENT_ID: "abc", CHATDESK_KV_PATH: ":memory:" },
      "CHATDESK_KV_PATH",
      "CHATDESK_ADMIN_PASSWORD",
      "CHATDESK_INBOUND_TOKEN",
    );
  });
});

Deno.test("[domain] CHATDESK_KV_PATH: KV Connect over https://, or http:// to loopback only", async (t) => {
  await t.step("https:// and loopback http:// (a test KV Connect server) are accepted", () => {
    for (
      const url of [
        "https://api.deno.com/v2/databases/0b1e/connect",
        "http://127.0.0.1:4512",
        "http://127.0.0.1:4512/",
        "http://localhost:4512",
        "http://[::1]:4512",
      ]
    ) {
      assert.equal(parseConfig({ CHATDESK_KV_PATH: url }).kvPath, url);
      assert.equal(isFileStore(url), false, url);
    }
  });
  await t.step("http:// to any other host, or a URL with credentials, is refused", () => {
    for (
      const url of [
        "http://x",
        "http://kv.example.com:4512",
        "http://10.0.0.5:4512",
        "http://127.0.0.1.example.com",
        "https://user:secret@kv.example.com/db",
      ]
    ) {
      const message = refused({ CHATDESK_KV_PATH: url }, "CHATDESK_KV_PATH", "loopback");
      assert.ok(!message.includes("secret"), "the value (maybe a credential) is not repeated");
    }
  });
  await t.step("files are the only stores the start task lets the desk write next to", () => {
    assert.equal(isFileStore("./data/chatdesk.sqlite3"), true);
    assert.equal(isFileStore(":memory:"), false);
    assert.equal(isFileStore(PLATFORM_KV), false);
    assert.equal(kvWriteDirectory({ CHATDESK_KV_PATH: "http://127.0.0.1:4512" }), "./data");
    assert.equal(kvWriteDirectory({ CHATDESK_KV_PATH: "/srv/desk/kv.sqlite3" }), "/srv/desk");
  });
});

Deno.test({
  name:
    "[e2e] rule 42: main.ts on Deno Deploy with a :memory: store stops, saying how to assign one",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const child = mainCommand({
      ...ON_DEPLOY,
      PORT: String(freePort()),
      CHATDESK_KV_PATH: ":memory:",
      CHATDESK_DEMO: "0",
    }).spawn();
    // A desk that starts anyway would never end by itself: stop it after a generous wait.
    const guard = setTimeout(() => child.kill("SIGKILL"), 60_000);
    const { code, stdout, stderr } = await child.output();
    clearTimeout(guard);
    const out = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
    assert.equal(code, 2, out);
    assert.ok(out.includes("chatdesk cannot start"), out);
    assert.ok(out.includes(DEPLOY_KV_HELP), out);
    assert.ok(!out.includes("chatdesk on http://"), out);
  },
});

/** This machine's first IPv4 address that is not loopback, if it has one. */
const outsideAddress = () =>
  Deno.networkInterfaces().find((i) => i.family === "IPv4" && !i.address.startsWith("127."))
    ?.address;

async function reachable(hostname: string, port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname, port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "[e2e] main.ts with no HOST prints a 127.0.0.1 URL and refuses other interfaces",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const port = freePort();
    const child = startMain({
      HOST: "",
      PORT: String(port),
      CHATDESK_KV_PATH: `${dir}/desk.sqlite3`,
      CHATDESK_CLOCK: "manual",
      CHATDESK_DEMO: "1",
      CHATDESK_INBOUND_TOKEN: "config-test-token-0123456789",
    });
    try {
      await child.ready;
      // The rest of the start-up lines follow the first within moments.
      for (let i = 0; i < 100 && !child.output().includes("Inbound token"); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const out = child.output();
      assert.ok(out.includes(`chatdesk on http://127.0.0.1:${port}/`), out);
      assert.ok(out.includes(`Web chat as a customer: http://127.0.0.1:${port}/webchat`), out);
      assert.ok(await reachable("127.0.0.1", port), "the desk answers on 127.0.0.1");
      const outside = outsideAddress();
      if (outside) {
        assert.equal(await reachable(outside, port), false, `reachable on ${outside}`);
      }
    } finally {
      await child.kill("SIGTERM");
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("[domain] rule 49: CHATDESK_MEDIA_MAX_BYTES caps the files kept (16 MiB unless set)", async (t) => {
  await t.step("16 MiB by default, reaching the fetcher's settings", () => {
    const config = parseConfig({});
    assert.equal(config.mediaMaxBytes, 16 * 1024 * 1024);
    assert.equal(providerConfig(config).mediaMaxBytes, 16 * 1024 * 1024);
  });
  await t.step("a whole number of bytes from 1 KiB to 100 MiB", () => {
    assert.equal(parseConfig({ CHATDESK_MEDIA_MAX_BYTES: "5000000" }).mediaMaxBytes, 5_000_000);
    for (const bad of ["16MB", "-1", "1.5", "100", String(200 * 1024 * 1024)]) {
      refused({ CHATDESK_MEDIA_MAX_BYTES: bad }, "CHATDESK_MEDIA_MAX_BYTES", bad);
    }
  });
});
