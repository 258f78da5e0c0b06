import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { Service } from "../../src/service.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { rawConnection, rawRequest } from "../support/raw-http.ts";
import { post, postOversized, ride, startTestService, waitForJob } from "../support/service.ts";

const BUDGET = 200_000;
const BODY_LIMIT = 150_000;
const BODY_TIMEOUT_MS = 1_500;

let db: TestDatabase;
let service: Service;

beforeAll(async () => {
  db = await createTestDatabase();
  service = await startTestService(db.url, {
    INTAKE_MEMORY_BUDGET_BYTES: String(BUDGET),
    BODY_LIMIT_BYTES: String(BODY_LIMIT),
    HEADERS_TIMEOUT_MS: "1000",
    BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS),
  });
});
afterAll(async () => {
  await service?.stop();
  await db?.drop();
});

const json = "application/json";
const head = (length: number | "chunked") =>
  `POST /v1/rides HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${json}\r\n` +
  (length === "chunked" ? "Transfer-Encoding: chunked\r\n\r\n" : `Content-Length: ${length}\r\n\r\n`);

const reservedMetric = async () => {
  const line = (await (await fetch(`${service.url}/metrics`)).text()).split("\n").find((l) => l.startsWith("rides_intake_memory_reserved_bytes "));
  return Number(line?.split(" ")[1]);
};

/** A sender that declares `length` bytes, sends all but the last and stalls. */
async function stall(length: number) {
  const connection = rawConnection(service.url);
  await connection.write(head(length) + " ".repeat(length - 1));
  return connection;
}

describe("the intake memory budget (INTAKE_MEMORY_BUDGET_BYTES)", () => {
  it("reserves a declared body before reading it, answers 503 + Retry-After past the budget, and releases it when the body is cut off", async () => {
    const stalled = await stall(BODY_LIMIT);
    await vi.waitFor(() => expect(service.memoryBudget.reserved()).toBe(BODY_LIMIT));
    expect(await reservedMetric()).toBe(BODY_LIMIT);

    // 150,000 held: another 100,000 do not fit, and are refused from the header alone.
    const refused = await postOversized(service.url, "/v1/rides", { "content-type": json }, 100_000);
    expect(refused.status).toBe(503);
    expect(refused.headers.get("content-type")).toBe("application/problem+json");
    expect(refused.headers.get("retry-after")).toBe("2");
    expect(refused.body.detail).toBe(
      `the service already holds ${BODY_LIMIT} bytes of request bodies (INTAKE_MEMORY_BUDGET_BYTES ${BUDGET}); nothing from this request was accepted, retry later`,
    );
    // What fits is still taken.
    const small = await post(service.url, JSON.stringify(ride({ id: 720001 })), json);
    expect(small.status).toBe(202);

    // The stalled body is cut off after BODY_TIMEOUT_MS with a 408 problem+json, and its bytes are given back.
    const cutOff = await stalled.answer();
    expect(cutOff.status).toBe(408);
    expect(cutOff.headers["content-type"]).toBe("application/problem+json");
    expect(cutOff.body).toMatchObject({ status: 408, title: "Request Timeout", detail: expect.stringMatching(/^the request's body did not arrive within BODY_TIMEOUT_MS/) });
    await vi.waitFor(() => expect(service.memoryBudget.reserved()).toBe(0));
    expect(await reservedMetric()).toBe(0);
    expect((await waitForJob(service.url, small.body.job_id)).status).toBe("done");
    expect((await db.pool.query("SELECT count(*)::int AS n FROM jobs")).rows[0].n).toBe(1);
  });

  it("counts a chunked body as it arrives and refuses it once it passes the budget", async () => {
    const stalled = await stall(BODY_LIMIT);
    await vi.waitFor(() => expect(service.memoryBudget.reserved()).toBe(BODY_LIMIT));
    const chunked = rawConnection(service.url);
    await chunked.write(head("chunked"));
    const chunk = " ".repeat(30_000);
    // 150,000 + 2 × 30,000 passes 200,000: the second chunk is refused.
    for (let i = 0; i < 2; i++) await chunked.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    const answer = await chunked.answer();
    expect([answer.status, answer.headers["retry-after"], answer.body.detail]).toEqual([503, "2", expect.stringMatching(/INTAKE_MEMORY_BUDGET_BYTES 200000/)]);
    stalled.socket.destroy();
    await vi.waitFor(() => expect(service.memoryBudget.reserved()).toBe(0));
  });

  it("gives the bytes back when the sender goes away, and after a refusal (422)", async () => {
    const gone = await stall(50_000);
    await vi.waitFor(() => expect(service.memoryBudget.reserved()).toBe(50_000));
    gone.socket.destroy();
    await vi.waitFor(() => expect(service.memoryBudget.reserved()).toBe(0));
    expect((await post(service.url, JSON.stringify(ride({ id: 0 })), json)).status).toBe(422);
    expect(service.memoryBudget.reserved()).toBe(0);
  });
});

describe("waiting for room in the budget (INTAKE_BUDGET_WAIT_MS)", () => {
  const WAIT_MS = 1_000;
  let waiting: Service;
  beforeAll(async () => {
    waiting = await startTestService(db.url, {
      INTAKE_MEMORY_BUDGET_BYTES: String(BUDGET),
      BODY_LIMIT_BYTES: String(BODY_LIMIT),
      INTAKE_BUDGET_WAIT_MS: String(WAIT_MS),
      BODY_TIMEOUT_MS: "10000",
    });
  });
  afterAll(async () => {
    await waiting?.stop();
  });

  /** One valid ride padded with spaces to `bytes`, which JSON allows. */
  const padded = (id: number, bytes: number) => {
    const text = JSON.stringify(ride({ id }));
    return text + " ".repeat(bytes - text.length);
  };
  const stallOn = async (length: number) => {
    const connection = rawConnection(waiting.url);
    await connection.write(head(length) + " ".repeat(length - 1));
    await vi.waitFor(() => expect(waiting.memoryBudget.reserved()).toBe(length));
    return connection;
  };

  it("holds a body that does not fit unread until room is given back, then takes it", async () => {
    const stalled = await stallOn(BODY_LIMIT);
    const taken = post(waiting.url, padded(720101, 100_000), json);
    await vi.waitFor(() => expect(waiting.memoryBudget.waiting()).toBe(1));
    const metrics = await (await fetch(`${waiting.url}/metrics`)).text();
    expect(metrics).toMatch(/^rides_intake_memory_waiting_requests 1$/m);
    expect(waiting.memoryBudget.reserved()).toBe(BODY_LIMIT);
    stalled.socket.destroy();
    const answer = await taken;
    expect(answer.status).toBe(202);
    expect((await waitForJob(waiting.url, answer.body.job_id)).status).toBe("done");
    await vi.waitFor(() => expect([waiting.memoryBudget.reserved(), waiting.memoryBudget.waiting()]).toEqual([0, 0]));
  });

  it("answers 503 + Retry-After when no room came within the wait, having read nothing of the body", async () => {
    const stalled = await stallOn(BODY_LIMIT);
    const started = performance.now();
    const refused = await postOversized(waiting.url, "/v1/rides", { "content-type": json }, 100_000);
    expect(performance.now() - started).toBeGreaterThanOrEqual(WAIT_MS - 50);
    expect([refused.status, refused.headers.get("retry-after")]).toEqual([503, "2"]);
    expect(refused.body.detail).toMatch(/INTAKE_MEMORY_BUDGET_BYTES 200000/);
    expect([waiting.memoryBudget.reserved(), waiting.memoryBudget.waiting()]).toEqual([BODY_LIMIT, 0]);
    stalled.socket.destroy();
    await vi.waitFor(() => expect(waiting.memoryBudget.reserved()).toBe(0));
  });

  it("forgets a sender that goes away while it waits", async () => {
    const stalled = await stallOn(BODY_LIMIT);
    const gone = rawConnection(waiting.url);
    await gone.write(head(100_000) + " ".repeat(1_000));
    await vi.waitFor(() => expect(waiting.memoryBudget.waiting()).toBe(1));
    gone.socket.destroy();
    await vi.waitFor(() => expect(waiting.memoryBudget.waiting()).toBe(0));
    expect(waiting.memoryBudget.reserved()).toBe(BODY_LIMIT);
    stalled.socket.destroy();
    await vi.waitFor(() => expect(waiting.memoryBudget.reserved()).toBe(0));
  });
});

describe("request timeouts", () => {
  it("answers headers that do not arrive within HEADERS_TIMEOUT_MS with a 408 problem+json", async () => {
    const slow = rawConnection(service.url);
    await slow.write("POST /v1/rides HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    const answer = await slow.answer();
    expect([answer.status, answer.headers["content-type"]]).toEqual([408, "application/problem+json"]);
    expect(answer.body.detail).toBe("the request's headers did not arrive within HEADERS_TIMEOUT_MS (1000 ms)");
  });
});

/** A GET with the Host header as given (fetch does not let a caller set Host). */
function getWithHost(path: string, host: string): Promise<{ status: number; type?: string; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(`${service.url}${path}`, { headers: { host } }, (res) => {
      let text = "";
      res.on("data", (chunk) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode!, type: res.headers["content-type"], body: res.headers["content-type"]?.includes("json") ? JSON.parse(text) : text }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("without API_KEYS: loopback Host names only (DNS rebinding)", () => {
  it("refuses a Host that is not a loopback name or address with a 421 problem+json", async () => {
    for (const host of ["rebind.attacker.example", "rebind.attacker.example:3000", "127.0.0.1.attacker.example", "10.0.0.5", "[::2]:80", "localhost.attacker.example"]) {
      const answer = await getWithHost("/dashboard/stats", host);
      expect({ host, status: answer.status, type: answer.type }).toEqual({ host, status: 421, type: "application/problem+json" });
      expect(answer.body.detail).toMatch(/is not a loopback name or address: without API_KEYS/);
    }
  });

  it("refuses an HTTP/1.0 request without Host, which names no loopback host either", async () => {
    const answer = await rawRequest(service.url, "GET /healthz HTTP/1.0\r\n\r\n");
    expect([answer.status, answer.headers["content-type"], answer.body.detail]).toEqual([421, "application/problem+json", expect.stringMatching(/^Host "" is not a loopback name/)]);
  });

  it("answers loopback names and addresses", async () => {
    for (const host of ["localhost", "localhost:3000", "dash.localhost:3000", "127.0.0.1", "127.1.2.3:8080", "[::1]:3000"]) {
      expect({ host, status: (await getWithHost("/healthz", host)).status }).toEqual({ host, status: 200 });
    }
  });
});
