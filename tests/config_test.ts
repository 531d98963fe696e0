/** Start-up configuration: where the server listens (`HOST`) and the URL it prints. */
import assert from "node:assert/strict";
import { browseUrl, ConfigError, parseConfig } from "../domain/config.ts";
import { freePort, startMain } from "./main_process.ts";

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
    assert.equal(parseConfig({ DENO_DEPLOYMENT_ID: "abc" }).hostname, "0.0.0.0");
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
