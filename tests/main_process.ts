/** A real `main.ts` process for end-to-end tests: started with an environment, read, stopped. */

const MAIN = new URL("../main.ts", import.meta.url).pathname;

export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

export function mainCommand(env: Record<string, string>) {
  return new Deno.Command(Deno.execPath(), {
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

export function startMain(env: Record<string, string>): MainProcess {
  const child = mainCommand(env).spawn();
  let out = "";
  const decoder = new TextDecoder();
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 60_000);
    (async () => {
      for await (const chunk of child.stdout) {
        out += decoder.decode(chunk);
        if (out.includes("chatdesk on http://")) {
          clearTimeout(timer);
          resolve();
        }
      }
    })();
  });
  const errors = (async () => {
    for await (const chunk of child.stderr) out += decoder.decode(chunk);
  })();
  let ended = false;
  return {
    ready,
    output: () => out,
    async kill(signal: Deno.Signal) {
      if (ended) return;
      ended = true;
      child.kill(signal);
      await child.status;
      await errors.catch(() => {});
    },
  };
}
