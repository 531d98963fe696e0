/** A real `main.ts` process for end-to-end tests: started with an environment, read, stopped. */

const MAIN = new URL("../main.ts", import.meta.url).pathname;

export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** How to run `main.ts`: another Deno binary (say 2.5, Deploy's), and how long a start may take. */
export interface MainOptions {
  /** The `deno` executable; the one running the tests unless given. */
  deno?: string;
  /** How long to wait for the start-up line; 60 s unless given. */
  readyTimeoutMs?: number;
}

export function mainCommand(env: Record<string, string>, options: MainOptions = {}) {
  return new Deno.Command(options.deno ?? Deno.execPath(), {
    args: ["run", "--allow-all", MAIN],
    env: { ...env, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  });
}

export interface MainProcess {
  /** Resolves once the server listens (its start-up line is printed). */
  ready: Promise<void>;
  /** Everything printed so far, stdout and stderr. */
  output(): string;
  /** Sends the signal and waits for the process to end. */
  kill(signal: Deno.Signal): Promise<void>;
}

export function startMain(env: Record<string, string>, options: MainOptions = {}): MainProcess {
  const child = mainCommand(env, options).spawn();
  let out = "";
  const decoder = new TextDecoder();
  const errors = (async () => {
    for await (const chunk of child.stderr) out += decoder.decode(chunk);
  })();
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not start:\n${out}`)),
      options.readyTimeoutMs ?? 60_000,
    );
    (async () => {
      for await (const chunk of child.stdout) {
        out += decoder.decode(chunk);
        if (out.includes("chatdesk on http://")) {
          clearTimeout(timer);
          resolve();
        }
      }
      // The process ended: say why at once rather than at the timeout (no-op once resolved).
      clearTimeout(timer);
      await errors.catch(() => {});
      reject(new Error(`server ended before it listened:\n${out}`));
    })();
  });
  let ended = false;
  return {
    ready,
    output: () => out,
    async kill(signal: Deno.Signal) {
      if (ended) return;
      ended = true;
      try {
        child.kill(signal);
      } catch {
        // it has ended already
      }
      // A process that ignores the signal is killed rather than left to hang the test run.
      const stuck = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // it ended meanwhile
        }
      }, 30_000);
      await child.status;
      clearTimeout(stuck);
      await errors.catch(() => {});
    },
  };
}

/** A JSON call to a running desk (`Authorization: Bearer` when a token is given). */
export async function callMain<T = Record<string, unknown>>(
  base: string,
  method: string,
  path: string,
  token?: string,
  body?: unknown,
) {
  const res = await fetch(base + path, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      "content-type": "application/json",
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}
