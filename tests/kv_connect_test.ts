/** Our KV Connect server (tests/kv_connect_server.ts) against Deno's real built-in remote KV client. */
import assert from "node:assert/strict";
import { type KvConnectServer, openKvConnect, startKvConnectServer } from "./kv_connect_server.ts";

interface KvConnect {
  server: KvConnectServer;
  /** A fresh Deno.openKv handle to the server, closed when the test ends. */
  open(): Promise<Deno.Kv>;
}

/** Runs body against a fresh server; every handle it opened and the server are closed after. */
async function withKvConnect(
  opts: Parameters<typeof startKvConnectServer>[0],
  body: (kvc: KvConnect) => Promise<void>,
): Promise<void> {
  const server = await startKvConnectServer(opts);
  const handles: Deno.Kv[] = [];
  const open = async () => {
    const kv = await openKvConnect(server);
    handles.push(kv);
    return kv;
  };
  try {
    await body({ server, open });
  } finally {
    for (const kv of handles) kv.close();
    await server.close();
  }
}

async function listKeys(iter: Deno.KvListIterator<unknown>): Promise<Deno.KvKey[]> {
  const keys: Deno.KvKey[] = [];
  for await (const entry of iter) keys.push(entry.key);
  return keys;
}

/** Polls until check() holds; fails after timeoutMs. */
async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 3000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The next watch delivery, or a failure if none comes within timeoutMs. */
async function nextWithin<T>(
  reader: ReadableStreamDefaultReader<T>,
  timeoutMs: number,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no watch delivery within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    const result = await Promise.race([reader.read(), timeout]);
    assert.equal(result.done, false, "the watch stream ended");
    return result.value!;
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("[kv-connect] Deno's real client reads and lists through our server", (t) =>
  withKvConnect({}, async ({ open }) => {
    const kv = await open();

    await t.step("values of every kind come back as they were set", async () => {
      const values: [string, unknown][] = [
        ["string", "héllo, wörld"],
        ["object", { name: "Ada", tags: ["a", "b"], nested: { n: 1, at: new Date(0) } }],
        ["bytes", new Uint8Array([0, 1, 2, 255])],
        ["bigint", 12345678901234567890n],
      ];
      for (const [name, value] of values) {
        const commit = await kv.set(["value", name], value);
        const entry = await kv.get(["value", name]);
        assert.deepEqual(entry.value, value, name);
        assert.equal(entry.versionstamp, commit.versionstamp);
      }
      await kv.set(["value", "u64"], new Deno.KvU64(42n));
      const u64 = await kv.get<Deno.KvU64>(["value", "u64"]);
      assert.ok(u64.value instanceof Deno.KvU64);
      assert.equal(u64.value.value, 42n);
      assert.deepEqual(await kv.get(["value", "never set"]), {
        key: ["value", "never set"],
        value: null,
        versionstamp: null,
      });
    });

    await t.step("getMany answers each key in order, absent ones as null", async () => {
      const [a, missing, b] = await kv.getMany([["value", "string"], ["nope"], [
        "value",
        "bigint",
      ]]);
      assert.equal(a.value, "héllo, wörld");
      assert.equal(missing.value, null);
      assert.equal(missing.versionstamp, null);
      assert.equal(b.value, 12345678901234567890n);
    });

    const items: Deno.KvKey[] = Array.from({ length: 10 }, (_, i) => ["items", i]);
    await kv.atomic().set(["itemz"], "after the prefix").set(["item"], "before it").commit();
    let op = kv.atomic();
    for (const [i, key] of items.entries()) op = op.set(key, `item ${i}`);
    assert.equal((await op.commit()).ok, true);

    await t.step("list by prefix goes forward and in reverse", async () => {
      assert.deepEqual(await listKeys(kv.list({ prefix: ["items"] })), items);
      assert.deepEqual(
        await listKeys(kv.list({ prefix: ["items"] }, { reverse: true })),
        [...items].reverse(),
      );
    });

    await t.step("list honours limit, a cursor and small batches", async () => {
      const first = kv.list({ prefix: ["items"] }, { limit: 3 });
      assert.deepEqual(await listKeys(first), items.slice(0, 3));
      const rest = kv.list({ prefix: ["items"] }, { cursor: first.cursor, limit: 4 });
      assert.deepEqual(await listKeys(rest), items.slice(3, 7));
      assert.deepEqual(await listKeys(kv.list({ prefix: ["items"] }, { batchSize: 2 })), items);
      const back = kv.list({ prefix: ["items"] }, { reverse: true, limit: 2 });
      assert.deepEqual(await listKeys(back), [items[9], items[8]]);
      const backRest = kv.list({ prefix: ["items"] }, { reverse: true, cursor: back.cursor });
      assert.deepEqual(await listKeys(backRest), items.slice(0, 8).reverse());
    });

    await t.step("list honours start and end", async () => {
      const range = kv.list({ start: ["items", 3], end: ["items", 7] });
      assert.deepEqual(await listKeys(range), items.slice(3, 7));
      const fromFive = kv.list({ prefix: ["items"], start: ["items", 5] });
      assert.deepEqual(await listKeys(fromFive), items.slice(5));
      const upToTwo = kv.list({ prefix: ["items"], end: ["items", 2] }, { reverse: true });
      assert.deepEqual(await listKeys(upToTwo), [items[1], items[0]]);
    });

    await t.step("keys sort as the client's raw bytes, across key part types", async () => {
      const mixed: Deno.KvKey[] = [
        ["mix", new Uint8Array([9])],
        ["mix", "s"],
        ["mix", 1n],
        ["mix", 1.5],
        ["mix", false],
        ["mix", true],
      ];
      for (const key of [...mixed].reverse()) await kv.set(key, 0);
      assert.deepEqual(await listKeys(kv.list({ prefix: ["mix"] })), mixed);
    });

    await t.step(
      "versionstamps are 10 bytes, rise with each commit, shared within one",
      async () => {
        const one = await kv.set(["vs", 1], 1);
        const two = await kv.atomic().set(["vs", 2], 2).set(["vs", 3], 3).commit();
        assert.ok(two.ok);
        assert.match(one.versionstamp, /^[0-9a-f]{20}$/);
        assert.ok(two.versionstamp > one.versionstamp);
        const [e2, e3] = await kv.getMany([["vs", 2], ["vs", 3]]);
        assert.equal(e2.versionstamp, two.versionstamp);
        assert.equal(e3.versionstamp, two.versionstamp);
      },
    );
  }));

Deno.test("[kv-connect] atomic commits check, mutate and refuse like denokv", (t) =>
  withKvConnect({}, async ({ open }) => {
    const kv = await open();

    await t.step("a passing check commits; a failing one applies nothing", async () => {
      await kv.set(["acct"], 1);
      const fresh = await kv.get(["acct"]);
      const passed = await kv.atomic().check(fresh).set(["acct"], 2).commit();
      assert.equal(passed.ok, true);
      const failed = await kv.atomic().check(fresh).set(["acct"], 3).set(["acct", "log"], "x")
        .commit();
      assert.equal(failed.ok, false);
      assert.equal((await kv.get(["acct"])).value, 2);
      assert.equal((await kv.get(["acct", "log"])).versionstamp, null);
    });

    await t.step("check({ versionstamp: null }) creates once and only once", async () => {
      const create = (value: string) =>
        kv.atomic().check({ key: ["once"], versionstamp: null }).set(["once"], value).commit();
      assert.equal((await create("first")).ok, true);
      assert.equal((await create("second")).ok, false);
      assert.equal((await kv.get(["once"])).value, "first");
    });

    await t.step(
      "sum wraps at 2^64; min and max keep the extreme; absent takes the operand",
      async () => {
        const u64 = (n: bigint) => new Deno.KvU64(n);
        await kv.set(["n", "wrap"], u64(2n ** 64n - 1n));
        await kv.atomic()
          .sum(["n", "wrap"], 2n)
          .sum(["n", "fresh"], 5n)
          .min(["n", "min"], 7n)
          .max(["n", "max"], 7n)
          .commit();
        await kv.atomic().min(["n", "min"], 3n).max(["n", "max"], 3n).sum(["n", "fresh"], 5n)
          .commit();
        const read = async (name: string) => (await kv.get<Deno.KvU64>(["n", name])).value?.value;
        assert.equal(await read("wrap"), 1n);
        assert.equal(await read("fresh"), 10n);
        assert.equal(await read("min"), 3n);
        assert.equal(await read("max"), 7n);
      },
    );

    await t.step(
      "sum on a value that is not a KvU64 is refused and the commit lands nowhere",
      async () => {
        await kv.set(["n", "text"], "not a number");
        await assert.rejects(
          kv.atomic().set(["n", "beside"], 1).sum(["n", "text"], 1n).commit(),
          /non-U64 value/,
        );
        assert.equal((await kv.get(["n", "beside"])).versionstamp, null);
        assert.equal((await kv.get(["n", "text"])).value, "not a number");
      },
    );

    await t.step("a commit with an enqueue is refused and stores nothing", async () => {
      await assert.rejects(
        kv.atomic().set(["queued", "beside"], 1).enqueue({ job: 1 }).commit(),
        /Enqueue operations are not supported in KV Connect/,
      );
      await assert.rejects(kv.enqueue({ job: 2 }), /Enqueue operations are not supported/);
      assert.equal((await kv.get(["queued", "beside"])).versionstamp, null);
    });

    await t.step("11 checks are refused (400, nothing stored); 10 pass", async () => {
      const withChecks = (n: number, key: string) => {
        let op = kv.atomic();
        for (let i = 0; i < n; i++) op = op.check({ key: ["absent", i], versionstamp: null });
        return op.set(["checked", key], n).commit();
      };
      await assert.rejects(
        withChecks(11, "eleven"),
        /status=400 Bad Request\): Too many checks included in atomic write\./,
      );
      assert.equal((await kv.get(["checked", "eleven"])).versionstamp, null);
      assert.equal((await withChecks(10, "ten")).ok, true);
      assert.equal((await kv.get(["checked", "ten"])).value, 10);
    });
  }));

Deno.test("[kv-connect] more mutations than maxMutations are refused", () =>
  withKvConnect({ maxMutations: 5 }, async ({ open }) => {
    const kv = await open();
    const withSets = (n: number) => {
      let op = kv.atomic();
      for (let i = 0; i < n; i++) op = op.set(["m", n, i], i);
      return op.commit();
    };
    await assert.rejects(withSets(6), /status=400 Bad Request\): Too many mutations/);
    assert.deepEqual(await listKeys(kv.list({ prefix: ["m", 6] })), []);
    assert.equal((await withSets(5)).ok, true);
  }));

Deno.test("[kv-connect] an entry past its expireIn reads as absent", (t) =>
  withKvConnect({}, async ({ open }) => {
    const kv = await open();
    const expireIn = 200;

    await t.step("present before, absent to get, list and a null check after", async () => {
      const setAt = Date.now();
      await kv.set(["short"], "lived", { expireIn });
      await kv.set(["long"], "lived");
      assert.equal((await kv.get(["short"])).value, "lived");
      await waitFor("the entry to expire", async () => (await kv.get(["short"])).value === null);
      assert.ok(Date.now() - setAt >= expireIn, "absent only once its time has come");
      assert.deepEqual(await listKeys(kv.list({ prefix: [] })), [["long"]]);
      const recreate = await kv.atomic().check({ key: ["short"], versionstamp: null })
        .set(["short"], "again").commit();
      assert.equal(recreate.ok, true);
    });
  }));

Deno.test("[kv-connect] watch sees another handle's writes and stops when cancelled", (t) =>
  withKvConnect({}, async ({ server, open }) => {
    const watcher = await open();
    const writer = await open();
    const both = watcher.watch([["w", "a"], ["w", "b"]]).getReader();
    const justA = writer.watch([["w", "a"]]).getReader();

    await t.step("each watch answers at once with the current values", async () => {
      const initial = await nextWithin(both, 1000);
      assert.deepEqual(initial.map((e) => e.value), [null, null]);
      assert.deepEqual((await nextWithin(justA, 1000)).map((e) => e.value), [null]);
      assert.equal(server.openWatches, 2);
    });

    await t.step("a write through a second handle arrives within a second", async () => {
      const commit = await writer.set(["w", "b"], "from the other handle");
      const update = await nextWithin(both, 1000);
      assert.equal(update[0].value, null);
      assert.equal(update[1].value, "from the other handle");
      assert.equal(update[1].versionstamp, commit.versionstamp);
    });

    await t.step("several watches open at once each get the keys they watch", async () => {
      await writer.atomic().set(["w", "a"], 1).set(["w", "elsewhere"], 2).commit();
      assert.deepEqual((await nextWithin(both, 1000)).map((e) => e.value), [
        1,
        "from the other handle",
      ]);
      assert.deepEqual((await nextWithin(justA, 1000)).map((e) => e.value), [1]);
      await writer.delete(["w", "a"]);
      assert.deepEqual((await nextWithin(justA, 1000)).map((e) => e.value), [null]);
    });

    await t.step("cancelling the readers closes the server's streams", async () => {
      await both.cancel();
      await justA.cancel();
      await waitFor("the server to drop both watch streams", () => server.openWatches === 0);
      assert.equal(server.calls.watches, 2);
    });
  }));

Deno.test("[kv-connect] injected latency and call counts", (t) =>
  withKvConnect({}, async ({ server, open }) => {
    const kv = await open();
    const keys: Deno.KvKey[] = Array.from({ length: 10 }, (_, i) => ["slow", i]);
    await kv.set(keys[0], "first");

    await t.step("with delayMs = 90 one get takes at least 90 ms", async () => {
      server.delayMs = 90;
      const started = performance.now();
      assert.equal((await kv.get(keys[0])).value, "first");
      assert.ok(performance.now() - started >= 90);
    });

    await t.step("getMany of 10 keys is one snapshot_read call", async () => {
      server.calls = { reads: 0, writes: 0, watches: 0 };
      const entries = await kv.getMany(keys);
      assert.equal(entries.length, 10);
      assert.deepEqual(server.calls, { reads: 1, writes: 0, watches: 0 });
      await kv.atomic().set(keys[1], 1).set(keys[2], 2).commit();
      assert.deepEqual(server.calls, { reads: 1, writes: 1, watches: 0 });
    });

    await t.step(
      "calls sent together are one round; a call after another's answer is two",
      async () => {
        server.rounds = 0;
        await Promise.all([
          kv.getMany(keys.slice(0, 5)),
          kv.getMany(keys.slice(5)),
          kv.get(keys[0]),
          kv.atomic().set(["slow", "together"], 1).commit(),
        ]);
        assert.equal(server.rounds, 1);
        server.rounds = 0;
        const first = await kv.get(keys[0]);
        await kv.atomic().check(first).set(keys[0], "second").commit();
        assert.equal(server.rounds, 2);
        const fill = kv.atomic();
        for (const key of keys) fill.set(key, "listed");
        await fill.commit();
        server.rounds = 0;
        // A list that needs three batches waits for each batch before asking for the next.
        const listed = await listKeys(kv.list({ prefix: ["slow"] }, { batchSize: 4 }));
        assert.equal(listed.length, 11);
        assert.equal(server.rounds, 3);
      },
    );
  }));

Deno.test("[kv-connect] 20 concurrent checked increments never lose an update", () =>
  withKvConnect({ delayMs: 5 }, async ({ open }) => {
    const kv = await open();
    let conflicts = 0;
    const increment = async () => {
      while (true) {
        const current = await kv.get<number>(["counter"]);
        const next = (current.value ?? 0) + 1;
        if ((await kv.atomic().check(current).set(["counter"], next).commit()).ok) return;
        conflicts++;
      }
    };
    await Promise.all(Array.from({ length: 20 }, increment));
    assert.equal((await kv.get(["counter"])).value, 20);
    assert.ok(conflicts > 0, "the increments really did race");
  }));

// Hand-built protobuf for the few raw requests below (every length here is under 128).
const lengthDelimited = (field: number, bytes: number[]) => {
  assert.ok(bytes.length < 128);
  return [(field << 3) | 2, bytes.length, ...bytes];
};
const stringKeyBytes = (s: string) => [0x02, ...new TextEncoder().encode(s), 0x00];

const M_SET = 1;
const M_SET_SUFFIX_VERSIONSTAMPED_KEY = 9;

/** AtomicWrite { mutations: [key ← VE_BYTES [1, 2, 3]], enqueues: n × { payload } }. */
function rawAtomicWrite(
  key: string,
  enqueues: number,
  mutationType = M_SET,
): Uint8Array<ArrayBuffer> {
  const value = [...lengthDelimited(1, [1, 2, 3]), 0x10, 3];
  const mutation = [
    ...lengthDelimited(1, stringKeyBytes(key)),
    ...lengthDelimited(2, value),
    0x18,
    mutationType,
  ];
  const body = lengthDelimited(2, mutation);
  for (let i = 0; i < enqueues; i++) body.push(...lengthDelimited(3, lengthDelimited(1, [0xff])));
  return new Uint8Array(body);
}

async function metadataExchange(server: KvConnectServer, body?: unknown, token = server.token) {
  const res = await fetch(server.url, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: res.ok ? await res.json() : await res.text() };
}

Deno.test("[kv-connect] the wire protocol: metadata exchange and server-side refusals", (t) =>
  withKvConnect({}, async ({ server, open }) => {
    await t.step("a wrong access token gets 401, and Deno.openKv then throws", async () => {
      const wrong = await metadataExchange(server, { supportedVersions: [1, 2, 3] }, "nope");
      assert.equal(wrong.status, 401);
      await assert.rejects(openKvConnect({ url: server.url, token: "nope" }), /401 Unauthorized/);
    });

    await t.step("the highest common version is chosen; no body means version 1", async () => {
      const v3 = await metadataExchange(server, { supportedVersions: [1, 2, 3] });
      assert.equal(v3.status, 200);
      assert.equal(v3.body.version, 3);
      assert.match(
        v3.body.databaseId,
        /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
      );
      assert.deepEqual(v3.body.endpoints, [{ url: "/v3", consistency: "strong" }]);
      assert.notEqual(v3.body.token, server.token);
      assert.ok(Date.parse(v3.body.expiresAt) > Date.now());
      assert.equal((await metadataExchange(server, { supportedVersions: [1, 2] })).body.version, 2);
      const v1 = await metadataExchange(server);
      assert.equal(v1.body.version, 1);
      assert.equal(v1.body.endpoints[0].url, `${server.url}/v1`);
      assert.equal((await metadataExchange(server, { supportedVersions: [7] })).status, 400);
    });

    await t.step("the server itself refuses an atomic_write with an enqueue", async () => {
      const { body: meta } = await metadataExchange(server, { supportedVersions: [3] });
      const post = (body: Uint8Array<ArrayBuffer>, token = meta.token) =>
        fetch(`${server.url}/v3/atomic_write`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${token}`,
            "content-type": "application/x-protobuf",
            "x-denokv-database-id": meta.databaseId,
            "x-denokv-version": "3",
          },
          body,
        });
      const refused = await post(rawAtomicWrite("raw", 1));
      assert.equal(refused.status, 400);
      assert.match(await refused.text(), /Enqueue operations are not supported/);
      const kv = await open();
      assert.equal((await kv.get(["raw"])).versionstamp, null);

      const wrongToken = await post(rawAtomicWrite("raw", 0), server.token);
      assert.equal(wrongToken.status, 401);
      await wrongToken.body?.cancel();
      const accepted = await post(rawAtomicWrite("raw", 0));
      assert.equal(accepted.status, 200);
      await accepted.body?.cancel();
      assert.deepEqual((await kv.get(["raw"])).value, new Uint8Array([1, 2, 3]));

      const suffixed = await post(rawAtomicWrite("vsk", 0, M_SET_SUFFIX_VERSIONSTAMPED_KEY));
      // AtomicWriteOutput: field 1 status = AW_SUCCESS, then field 2 the 10-byte versionstamp.
      const output = new Uint8Array(await suffixed.arrayBuffer());
      assert.deepEqual([...output.subarray(0, 4)], [0x08, 1, 0x12, 10]);
      const versionstamp = Array.from(
        output.subarray(4, 14),
        (b) => b.toString(16).padStart(2, "0"),
      )
        .join("");
      const [entry] = await Array.fromAsync(kv.list({ prefix: ["vsk"] }));
      assert.deepEqual(entry.key, ["vsk", versionstamp]);
      assert.equal(entry.versionstamp, versionstamp);
    });
  }));
