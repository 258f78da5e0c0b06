import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";

/** The longest webhook URL taken (browsers and proxies agree on about 2,000 characters). */
export const MAX_WEBHOOK_URL_LENGTH = 2_048;

export const WEBHOOK_NOTIFY = ["failures", "all"] as const;
export type WebhookNotify = (typeof WEBHOOK_NOTIFY)[number];
export type ConfiguredWebhook = { url: string; notify: WebhookNotify };

// Loopback, private, link-local (cloud metadata at 169.254.169.254), unique-local and
// unspecified addresses: a webhook must not make the service call into its own network
// unless WEBHOOK_ALLOW_PRIVATE_URLS says so.
const PRIVATE = new BlockList();
for (const [net, prefix] of [["0.0.0.0", 8], ["10.0.0.0", 8], ["100.64.0.0", 10], ["127.0.0.0", 8], ["169.254.0.0", 16], ["172.16.0.0", 12], ["192.168.0.0", 16]] as const) {
  PRIVATE.addSubnet(net, prefix, "ipv4");
}
for (const [net, prefix] of [["::", 128], ["::1", 128], ["fc00::", 7], ["fe80::", 10]] as const) PRIVATE.addSubnet(net, prefix, "ipv6");

const isPrivateAddress = (address: string) => {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return PRIVATE.check(mapped[1], "ipv4");
  return PRIVATE.check(address, isIP(address) === 6 ? "ipv6" : "ipv4");
};

/**
 * Why `text` cannot be a webhook URL, or undefined when it can: absolute http or https,
 * a host, no user name or password (the secret signs, credentials would be logged with
 * the URL), no fragment (never sent), at most MAX_WEBHOOK_URL_LENGTH characters, and
 * unless allowPrivate, not localhost nor a literal private address.
 */
export function webhookUrlProblem(text: string, allowPrivate: boolean): string | undefined {
  if (text.length > MAX_WEBHOOK_URL_LENGTH) return `must be at most ${MAX_WEBHOOK_URL_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return "must be an absolute http:// or https:// URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "must be an http:// or https:// URL";
  if (url.username || url.password) return "must not hold a user name or password";
  if (url.hash) return "must not hold a fragment (#...)";
  if (!allowPrivate) {
    const host = url.hostname.replace(/^\[|\]$/g, "");
    if (/^localhost$|\.localhost$/i.test(host) || (isIP(host) !== 0 && isPrivateAddress(host))) {
      return "must not point at a loopback or private address (WEBHOOK_ALLOW_PRIVATE_URLS=true allows it)";
    }
  }
  return undefined;
}

/**
 * Refuses a delivery whose host name resolves to a private address (unless allowed),
 * checked at each attempt: a name checked only when registered could point elsewhere later.
 */
export async function checkDestination(text: string, allowPrivate: boolean): Promise<void> {
  if (allowPrivate) return;
  const host = new URL(text).hostname.replace(/^\[|\]$/g, "");
  if (isIP(host) !== 0) return;
  for (const { address } of await lookup(host, { all: true })) {
    if (isPrivateAddress(address)) throw new Error(`${host} resolves to a private address (${address}); WEBHOOK_ALLOW_PRIVATE_URLS=true allows it`);
  }
}

/**
 * WEBHOOK_URLS: comma-separated URLs, each getting failed and lost jobs; an `all=` prefix
 * sends it every finished job too. Errors name the entry by position.
 */
export function parseWebhookUrls(text: string, allowPrivate: boolean): ConfiguredWebhook[] {
  return text
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "")
    .map((entry, i) => {
      const all = entry.startsWith("all=");
      const url = all ? entry.slice(4) : entry;
      const problem = webhookUrlProblem(url, allowPrivate);
      if (problem) throw new Error(`WEBHOOK_URLS entry ${i + 1}: ${problem}`);
      return { url, notify: all ? "all" : "failures" };
    });
}
