/**
 * `deno task start` runs the desk with write access to the KV file's folder only, wherever
 * `CHATDESK_KV_PATH` puts it (the README documents any path; `./data` is only the default).
 */
import assert from "node:assert/strict";
import { kvWriteDirectory } from "../scripts/kv_write_path.ts";
import { freePort } from "./main_process.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test("the start task's write permission follows CHATDESK_KV_PATH", async (t) => {
  await t.step("the folder of a file path, ./data by default, ./data for non-file stores", () => {
    assert.equal(kvWriteDirectory({}), "./data");
    assert.equal(kvWriteDirectory({ CHATDESK_KV_PATH: "/srv/desk/kv.sqlite3" }), "/srv/desk");
    assert.equal(kvWriteDirectory({ CHATDESK_KV_PATH: "desk.sqlite3" }), ".");
    assert.equal(kvWriteDirectory({ CHATDESK_KV_PATH: "/kv.sqlite3" }), "/");
    assert.equal(kvWriteDirectory({ CHATDESK_KV_PATH: ":memory:" }), "./data");
    assert.equal(kvWriteDirectory({ CHATDESK_KV_PATH: "https://kv.example/db" }), "./data");
    // A bad configuration is main.ts's to report, with the variable's name.
    assert.equal(kvWriteDirectory({ PORT: "nope" }), "./data");
  });

  await t.step("`deno task start` serves with a KV file outside ./data", async () => {
    const dir = await Deno.makeTempDir();
    const port = freePort();
    const child = new Deno.Command(Deno.execPath(), {
      args: ["task", "start"],
      cwd: ROOT,
      env: { PORT: String(port), CHATDESK_KV_PATH: `${dir}/store/desk.sqlite3`, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const errors = new Response(child.stderr).text();
    let out = "";
    const decoder = new TextDecoder();
    try {
      for await (const chunk of child.stdout) {
        out += decoder.decode(chunk);
        if (out.includes("chatdesk on http://")) break;
      }
      assert.match(out, /chatdesk on http:\/\//, `the desk did not start:\n${out}`);
      const page = await fetch(`http://127.0.0.1:${port}/login`);
      await page.body?.cancel();
      assert.equal(page.status, 200);
      const made = [...Deno.readDirSync(`${dir}/store`)].map((e) => e.name);
      assert.ok(made.includes("desk.sqlite3"), `the store is where it was told: ${made}`);
    } finally {
      child.kill("SIGTERM");
      await child.status;
      const stderr = await errors;
      assert.doesNotMatch(stderr, /PermissionDenied|NotCapable|Requires write access/, stderr);
      await Deno.remove(dir, { recursive: true });
    }
  });
});
