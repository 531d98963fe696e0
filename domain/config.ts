/** Start-up configuration from environment variables (SPEC); invalid values stop the server. */
export interface Config {
  port: number;
  /**
   * `HOST`: the address to listen on; 127.0.0.1 unless set (`HOST=0.0.0.0` for every interface),
   * so `task start` with its published demo passwords is not reachable from the network.
   */
  hostname: string;
  /**
   * A file path, ":memory:", a KV Connect URL (`https://`, or `http://` to a loopback address), or
   * PLATFORM_KV. On Deno Deploy only PLATFORM_KV (the default there) or a KV Connect URL.
   */
  kvPath: string;
  adminEmail: string;
  adminPassword: string | null;
  inboundToken: string;
  clock: "system" | "manual";
  demo: boolean;
  /** `CHATDESK_PUBLIC_URL`: where providers reach us (webhook URLs, Twilio signatures). */
  publicUrl: string | null;
  whatsappApiBase: string;
  twilioApiBase: string;
  providerTimeoutMs: number;
  /** Rule 49: `CHATDESK_MEDIA_MAX_BYTES`, the largest file the desk keeps (16 MiB). */
  mediaMaxBytes?: number;
  /**
   * `CHATDESK_TRUSTED_PROXY_HEADER`: the header our own reverse proxy sets to the client's address
   * (its right-most value is used); unset, the peer address is the client's.
   */
  trustedProxyHeader?: string | null;
}

/** What the courier needs from the configuration (domain/providers/provider.ts `ProviderConfig`). */
export function providerConfig(config: Config) {
  return {
    publicUrl: config.publicUrl,
    whatsappApiBase: config.whatsappApiBase,
    twilioApiBase: config.twilioApiBase,
    timeoutMs: config.providerTimeoutMs,
    mediaMaxBytes: config.mediaMaxBytes ?? DEFAULT_MEDIA_MAX_BYTES,
  };
}

export const DEFAULT_WHATSAPP_API_BASE = "https://graph.facebook.com/v23.0";
export const DEFAULT_TWILIO_API_BASE = "https://api.twilio.com";
/** Rule 49: files up to 16 MiB are kept. */
export const DEFAULT_MEDIA_MAX_BYTES = 16 * 1024 * 1024;

/** Loopback hosts: the only ones `http://` is allowed for (tests and local gateways). */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === "localhost" || /^127\.\d+\.\d+\.\d+$/.test(hostname) ||
    hostname === "[::1]";
}

/** An `https://` URL, or `http://` to a loopback address; null when it is neither. */
export function secureUrl(text: string): URL | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  if (url.username || url.password) return null;
  if (url.protocol === "https:") return url;
  if (url.protocol === "http:" && isLoopbackHost(url.hostname)) return url;
  return null;
}

export class ConfigError extends Error {}

/** A host name, an IPv4 address or an IPv6 address (brackets optional): what `HOST` may be. */
function hostOf(text: string): string | null {
  const host = text.replace(/^\[(.*)\]$/, "$1");
  const label = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
  if (new RegExp(`^${label}(?:\\.${label})*$`).test(host)) return host;
  if (!host.includes(":")) return null;
  try {
    new URL(`http://[${host}]/`);
    return host;
  } catch {
    return null;
  }
}

/**
 * The URL to print for a server listening on `hostname`: an every-interface address is reached
 * on the loopback one, and an IPv6 address goes in brackets.
 */
export function browseUrl(hostname: string, port: number): string {
  const host = hostname === "0.0.0.0" ? "127.0.0.1" : hostname === "::" ? "::1" : hostname;
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** Whether `hostname` listens on every interface rather than one address. */
export const isEveryInterface = (hostname: string): boolean =>
  hostname === "0.0.0.0" || hostname === "::";

/** `CHATDESK_KV_PATH=platform`: `Deno.openKv()` with no path, as on Deno Deploy. */
export const PLATFORM_KV = "platform";

/** Whether `kvPath` names a KV Connect server (`http://` or `https://`) rather than a file. */
export const isKvConnectUrl = (kvPath: string): boolean => /^https?:\/\//i.test(kvPath);

/** Whether `kvPath` is a SQLite file on this machine (not memory, KV Connect or the platform's). */
export const isFileStore = (kvPath: string): boolean =>
  kvPath !== ":memory:" && kvPath !== PLATFORM_KV && !isKvConnectUrl(kvPath);

/** Whether this process runs on Deno Deploy, which sets `DENO_DEPLOYMENT_ID` for every app. */
export function isOnDeploy(env: Record<string, string | undefined>): boolean {
  const id = env.DENO_DEPLOYMENT_ID;
  return id !== undefined && id !== "";
}

/**
 * How to give the app its store on Deno Deploy (rule 42): said when a store is refused there, and
 * for main.ts to say when `Deno.openKv()` fails there (no database assigned to the app).
 */
export const DEPLOY_KV_HELP =
  "On Deno Deploy the desk keeps everything in the Deno KV database assigned to the app. In the " +
  "Deno Deploy dashboard open your organization's Databases page, click Provision Database and " +
  "choose Deno KV (or use one you have), then click Assign next to it and select this app; when " +
  'its status shows "Connected", deploy again. Leave CHATDESK_KV_PATH unset there.';

/** Parses the environment; `defaults` are what `deno task start` embeds. Throws ConfigError naming the variable. */
export function parseConfig(
  env: Record<string, string | undefined>,
  defaults: { demo: boolean } = { demo: false },
): Config {
  const problems: string[] = [];
  const get = (name: string) => {
    const value = env[name];
    return value === undefined || value === "" ? undefined : value;
  };
  const portText = get("PORT") ?? "8000";
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    problems.push(`PORT must be a port number 1–65535, not "${portText}".`);
  }
  // On Deno Deploy the platform's own KV is the default (a file path cannot be written there).
  const onDeploy = isOnDeploy(env);
  // Deno Deploy chooses the address itself; elsewhere only this machine, unless HOST says so.
  const hostText = get("HOST") ?? (onDeploy ? "0.0.0.0" : "127.0.0.1");
  const hostname = hostOf(hostText);
  if (hostname === null) {
    problems.push(
      `HOST must be a host name or an IP address such as 127.0.0.1 or 0.0.0.0, not "${hostText}".`,
    );
  }
  const kvPath = get("CHATDESK_KV_PATH") ?? (onDeploy ? PLATFORM_KV : "./data/chatdesk.sqlite3");
  if (isKvConnectUrl(kvPath) && !secureUrl(kvPath)) {
    // The value is not repeated: a URL may carry credentials, and this message is printed.
    problems.push(
      "CHATDESK_KV_PATH must be a file path, :memory:, platform, or a KV Connect URL with https:// " +
        "(http:// only to a loopback address) and no user name or password in it.",
    );
  }
  if (onDeploy && (kvPath === ":memory:" || isFileStore(kvPath))) {
    // Rule 42: a file or memory store lives in one isolate and is lost when the isolate stops.
    problems.push(
      `CHATDESK_KV_PATH cannot be "${kvPath}" on Deno Deploy: each instance would keep its own ` +
        `store and lose it when it stops. ${DEPLOY_KV_HELP}`,
    );
  }
  const adminEmail = (get("CHATDESK_ADMIN_EMAIL") ?? "admin@chatdesk.local").toLowerCase();
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(adminEmail)) {
    problems.push(`CHATDESK_ADMIN_EMAIL must be an e-mail address, not "${adminEmail}".`);
  }
  const adminPassword = get("CHATDESK_ADMIN_PASSWORD") ?? null;
  if (adminPassword !== null && adminPassword.length < 8) {
    problems.push("CHATDESK_ADMIN_PASSWORD must have at least 8 characters.");
  }
  // On Deno Deploy what a start prints lands in the platform's logs: no generated secret there.
  if (onDeploy && adminPassword === null) {
    problems.push(
      "CHATDESK_ADMIN_PASSWORD is required on Deno Deploy (at least 8 characters; add it as a " +
        "secret in the app's environment variables): a generated one would be printed into the logs.",
    );
  }
  const inboundToken = get("CHATDESK_INBOUND_TOKEN") ?? "";
  if (inboundToken && inboundToken.length < 16) {
    problems.push("CHATDESK_INBOUND_TOKEN must have at least 16 characters.");
  }
  if (onDeploy && !inboundToken) {
    problems.push(
      "CHATDESK_INBOUND_TOKEN is required on Deno Deploy (at least 16 characters; add it as a " +
        "secret in the app's environment variables): a generated one would be printed into the logs.",
    );
  }
  const clock = get("CHATDESK_CLOCK") ?? "system";
  if (clock !== "system" && clock !== "manual") {
    problems.push(`CHATDESK_CLOCK must be "system" or "manual", not "${clock}".`);
  }
  const demoText = get("CHATDESK_DEMO") ?? (defaults.demo ? "1" : "0");
  if (demoText !== "0" && demoText !== "1") {
    problems.push(`CHATDESK_DEMO must be "1" or "0", not "${demoText}".`);
  }
  const publicUrl = get("CHATDESK_PUBLIC_URL") ?? null;
  if (publicUrl !== null) {
    const url = secureUrl(publicUrl);
    if (!url || url.search || url.hash || publicUrl.endsWith("/")) {
      problems.push(
        `CHATDESK_PUBLIC_URL must look like https://host[:port][/prefix] with no trailing slash (http:// only for loopback), not "${publicUrl}".`,
      );
    }
  }
  const apiBase = (name: string, fallback: string) => {
    const value = (get(name) ?? fallback).replace(/\/+$/, "");
    if (!secureUrl(value)) {
      problems.push(`${name} must be an https:// URL (http:// only for loopback), not "${value}".`);
    }
    return value;
  };
  const whatsappApiBase = apiBase("CHATDESK_WHATSAPP_API_BASE", DEFAULT_WHATSAPP_API_BASE);
  const twilioApiBase = apiBase("CHATDESK_TWILIO_API_BASE", DEFAULT_TWILIO_API_BASE);
  const timeoutText = get("CHATDESK_PROVIDER_TIMEOUT_MS") ?? "10000";
  const providerTimeoutMs = Number(timeoutText);
  if (!/^\d+$/.test(timeoutText) || providerTimeoutMs < 100 || providerTimeoutMs > 120_000) {
    problems.push(
      `CHATDESK_PROVIDER_TIMEOUT_MS must be a whole number of milliseconds from 100 to 120000, not "${timeoutText}".`,
    );
  }
  const mediaText = get("CHATDESK_MEDIA_MAX_BYTES") ?? String(DEFAULT_MEDIA_MAX_BYTES);
  const mediaMaxBytes = Number(mediaText);
  if (!/^\d+$/.test(mediaText) || mediaMaxBytes < 1024 || mediaMaxBytes > 100 * 1024 * 1024) {
    problems.push(
      `CHATDESK_MEDIA_MAX_BYTES must be a whole number of bytes from 1024 to 104857600, not "${mediaText}".`,
    );
  }
  const trustedProxyHeader = get("CHATDESK_TRUSTED_PROXY_HEADER")?.toLowerCase() ?? null;
  if (trustedProxyHeader !== null && !/^[a-z0-9][a-z0-9-]{0,63}$/.test(trustedProxyHeader)) {
    problems.push(
      `CHATDESK_TRUSTED_PROXY_HEADER must be a header name such as x-forwarded-for, not "${trustedProxyHeader}".`,
    );
  }
  if (problems.length) throw new ConfigError(problems.join("\n"));
  return {
    port,
    hostname: hostname!,
    kvPath,
    adminEmail,
    adminPassword,
    inboundToken,
    clock: clock as Config["clock"],
    demo: demoText === "1",
    // Under the manual clock (tests) webhooks are signed for the local address by default.
    publicUrl: publicUrl ?? (clock === "manual" ? `http://127.0.0.1:${port}` : null),
    whatsappApiBase,
    twilioApiBase,
    providerTimeoutMs,
    mediaMaxBytes,
    trustedProxyHeader,
  };
}
