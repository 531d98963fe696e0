/** [routes] Admin › Canned replies (rule 34): admins list, create, edit and delete them by forms. */
import assert from "node:assert/strict";
import { listCannedReplies } from "../domain/canned_replies.ts";
import { SESSION_COOKIE } from "../routes/auth.ts";
import { type TestDesk, testDesk } from "./helpers.ts";

function browser(t: TestDesk, token: string) {
  const request = async (path: string, form?: Record<string, string>) => {
    const res = await t.app.request(path, {
      method: form ? "POST" : "GET",
      headers: {
        accept: "text/html",
        cookie: `${SESSION_COOKIE}=${token}`,
        ...(form
          ? { "content-type": "application/x-www-form-urlencoded", origin: "http://localhost" }
          : {}),
      },
      body: form ? new URLSearchParams(form).toString() : undefined,
    });
    return { status: res.status, location: res.headers.get("location"), html: await res.text() };
  };
  return { get: (path: string) => request(path), post: request };
}

Deno.test("[routes] admin canned replies: list, create for a department, refusals by field, edit, delete", async (s) => {
  const t = await testDesk();
  try {
    const sales = await t.department("Sales");
    const { agent: adminAgent, token } = await t.person("admin", { name: "Ada Admin" });
    const admin = browser(t, token);
    const all = () => listCannedReplies(t.desk, adminAgent);

    await s.step("the page is in the Admin tabs and says when there is none", async () => {
      const page = await admin.get("/admin/canned-replies");
      assert.equal(page.status, 200);
      assert.match(page.html, /<a class="tab" href="\/admin\/canned-replies" aria-current="page">/);
      assert.match(page.html, /No canned replies/);
      assert.match(page.html, new RegExp(`<option value="${sales}"\\s*>Sales</option>`));
    });

    await s.step("creating one for a department; its placeholders are marked", async () => {
      const res = await admin.post("/admin/canned-replies", {
        title: "Order number",
        body: "Hi {{customer.name}}, your order is {{order.number}}.",
        department: sales,
      });
      assert.equal(res.status, 303);
      const [reply] = await all();
      assert.deepEqual({ ...reply, id: "" }, {
        id: "",
        title: "Order number",
        body: "Hi {{customer.name}}, your order is {{order.number}}.",
        department: sales,
      });
      const page = await admin.get("/admin/canned-replies");
      assert.match(page.html, /<td>Sales<\/td>/);
      assert.match(page.html, /<mark class="param">\{\{customer\.name\}\}<\/mark>/);
      assert.match(
        page.html,
        /<mark class="param param-unknown"[^>]*>\{\{order\.number\}\}<\/mark>/,
      );
    });

    await s.step("each refusal is shown next to its field, with what was typed", async () => {
      const empty = await admin.post("/admin/canned-replies", {
        title: "",
        body: "Typed body",
        department: "",
      });
      assert.equal(empty.status, 400);
      assert.match(empty.html, /id="new-ctitle-error"/);
      assert.ok(empty.html.includes("Typed body"));
      const unknown = await admin.post("/admin/canned-replies", {
        title: "X",
        body: "Y",
        department: "nope",
      });
      assert.equal(unknown.status, 400);
      assert.match(unknown.html, /id="new-cdept-error"[^>]*>Unknown\./);
      assert.equal((await all()).length, 1);
    });

    await s.step("editing moves it to all departments; deleting removes it", async () => {
      const [reply] = await all();
      const edit = await admin.get(`/admin/canned-replies/${reply.id}`);
      assert.match(edit.html, /value="Order number"/);
      const res = await admin.post(`/admin/canned-replies/${reply.id}`, {
        title: "Order number",
        body: "Your order, please.",
        department: "",
      });
      assert.equal(res.status, 303);
      assert.equal((await all())[0].department, null);
      const gone = await admin.post(`/admin/canned-replies/${reply.id}/delete`, {});
      assert.equal(gone.status, 303);
      assert.deepEqual(await all(), []);
      assert.equal((await admin.get(`/admin/canned-replies/${reply.id}`)).status, 404);
    });

    await s.step("agents and supervisors may not open the page", async () => {
      for (const role of ["agent", "supervisor"] as const) {
        const { token: theirs } = await t.person(role);
        assert.equal((await browser(t, theirs).get("/admin/canned-replies")).status, 403);
      }
    });
  } finally {
    await t.close();
  }
});
