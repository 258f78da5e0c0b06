import { createHmac } from "node:crypto";

/**
 * Stripe's scheme: `Rides-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
 * under the endpoint's secret. The timestamp is signed with the body, so a receiver that
 * refuses old timestamps refuses replays; docs/notifications.md has the check.
 */
export function signatureHeader(secret: string, body: string, unixSeconds: number): string {
  const v1 = createHmac("sha256", secret).update(`${unixSeconds}.${body}`).digest("hex");
  return `t=${unixSeconds},v1=${v1}`;
}
