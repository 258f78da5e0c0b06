import type { Context } from "hono";
import { clip } from "../rides/time.ts";
import { Problem } from "./problem.ts";

// RFC 9110 §8.3.1: type "/" subtype *( OWS ";" OWS parameter ), parameter = token "=" ( token / quoted-string ).
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const VALUE = `(?:${TOKEN}|"(?:[^"\\\\]|\\\\.)*")`;
const MEDIA_TYPE = new RegExp(`^(${TOKEN}/${TOKEN})((?:[ \\t]*;[ \\t]*(?:${TOKEN}=${VALUE})?)*)$`);
const PARAMETER = new RegExp(`(${TOKEN})=(${VALUE})`, "g");

/**
 * The request's media type, lower case, if it is one of accepted: else a 415, or a 400
 * for a Content-Type that is not one media type. Content-Type is a singleton field
 * (RFC 9110 §5.3): sent twice it arrives as "a, b", which no reading of the body can
 * honour. Bodies are read as UTF-8, so a charset parameter must say so.
 */
export function mediaTypeOf(c: Context, accepted: readonly string[]): string {
  const header = (c.req.header("content-type") ?? "").trim();
  if (header === "") throw new Problem(415, `Content-Type must be one of ${accepted.join(", ")}; got "none"`);
  // What nearly every request sends: a bare accepted type has no parameter to check.
  if (accepted.includes(header)) return header;
  const match = MEDIA_TYPE.exec(header);
  if (!match) throw new Problem(400, `header Content-Type: "${clip(header, 80)}" is not one media type (was it sent twice?)`);
  const type = match[1].toLowerCase();
  if (!accepted.includes(type)) throw new Problem(415, `Content-Type must be one of ${accepted.join(", ")}; got "${clip(type, 80)}"`);
  for (const [, name, raw] of match[2].matchAll(PARAMETER)) {
    const value = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, "$1") : raw;
    if (name.toLowerCase() === "charset" && value.toLowerCase() !== "utf-8") {
      throw new Problem(415, `Content-Type charset=${clip(value)}: bodies are read as UTF-8 only`);
    }
  }
  return type;
}

/** A small JSON request body (the caller's bodyLimit bounds it): a 415 for another type, a 400 when it does not parse. */
export async function jsonBody(c: Context): Promise<unknown> {
  mediaTypeOf(c, ["application/json"]);
  try {
    return JSON.parse(await c.req.text());
  } catch {
    throw new Problem(400, "the body is not valid JSON");
  }
}
