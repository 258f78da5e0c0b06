import { describe, expect, it } from "vitest";
import { createMemoryBudget } from "../../src/http/memory-budget.ts";

describe("the memory budget's wait for room (INTAKE_BUDGET_WAIT_MS)", () => {
  it("lets those waiting in as bytes are given back, in arrival order, each that fits", async () => {
    const budget = createMemoryBudget(100);
    const first = budget.tryReserve(80)!;
    const order: string[] = [];
    const big = budget.reserve(60, 10_000).then((release) => (order.push("big"), release));
    const small = budget.reserve(30, 10_000).then((release) => (order.push("small"), release));
    // 20 free: neither fits yet.
    await Promise.resolve();
    expect([budget.reserved(), order]).toEqual([80, []]);
    first();
    const [bigRelease, smallRelease] = await Promise.all([big, small]);
    expect(order).toEqual(["big", "small"]);
    expect(budget.reserved()).toBe(90);
    bigRelease!();
    smallRelease!();
    expect(budget.reserved()).toBe(0);
  });

  it("lets a later one that fits pass one that does not", async () => {
    const budget = createMemoryBudget(100);
    const a = budget.tryReserve(60)!;
    const b = budget.tryReserve(30)!;
    const big = budget.reserve(95, 10_000);
    const small = budget.reserve(20, 10_000);
    // 30 back: 60 + 20 fits, 60 + 95 does not.
    b();
    expect(budget.reserved()).toBe(80);
    const smallRelease = (await small)!;
    a();
    smallRelease();
    expect(budget.reserved()).toBe(95);
    (await big)!();
    expect(budget.reserved()).toBe(0);
  });

  it("gives up after waitMs, or when the sender goes away, and then holds nothing for it", async () => {
    const budget = createMemoryBudget(100);
    const held = budget.tryReserve(100)!;
    const started = performance.now();
    expect(await budget.reserve(10, 50)).toBeUndefined();
    expect(performance.now() - started).toBeGreaterThanOrEqual(49);
    const gone = new AbortController();
    const abandoned = budget.reserve(10, 10_000, gone.signal);
    gone.abort();
    expect(await abandoned).toBeUndefined();
    held();
    expect(budget.reserved()).toBe(0);
  });

  it("never waits for more than the whole budget, nor with no wait set", async () => {
    const budget = createMemoryBudget(100);
    expect(await budget.reserve(101, 10_000)).toBeUndefined();
    const held = budget.tryReserve(100)!;
    expect(await budget.reserve(1, 0)).toBeUndefined();
    held();
  });
});
