import { afterEach, describe, expect, it } from "vitest";
import { skipUnreadPromiseStacks } from "./promise-stacks";

const original = Error.prepareStackTrace;
afterEach(() => {
  Error.prepareStackTrace = original;
});

/** Stands in for source-map-support's formatter: counts the stacks it is asked to map. */
function countingFormatter() {
  const mapped: string[] = [];
  Error.prepareStackTrace = (error: Error) => {
    mapped.push(error.message);
    return `mapped: ${error.message}`;
  };
  return mapped;
}

describe("skipUnreadPromiseStacks", () => {
  it("leaves the SDK's message-less promise stacks unmapped and maps every other error", () => {
    const mapped = countingFormatter();
    skipUnreadPromiseStacks({});
    expect(new Error().stack).toBe("Error");
    expect(new Error("host web3 refused").stack).toBe("mapped: host web3 refused");
    // A subclass is somebody's real error even without a message.
    expect(new TypeError().stack).toBe("mapped: ");
    expect(mapped).toEqual(["host web3 refused", ""]);
  });

  it("keeps every stack when the leak report asks for them (PULUMI_DEBUG_PROMISE_LEAKS)", () => {
    const mapped = countingFormatter();
    skipUnreadPromiseStacks({ PULUMI_DEBUG_PROMISE_LEAKS: "1" });
    expect(new Error().stack).toBe("mapped: ");
    expect(mapped).toEqual([""]);
  });

  it("wraps the formatter once however often it is called", () => {
    const mapped = countingFormatter();
    skipUnreadPromiseStacks({});
    const once = Error.prepareStackTrace;
    skipUnreadPromiseStacks({});
    expect(Error.prepareStackTrace).toBe(once);
    expect(new Error("x").stack).toBe("mapped: x");
    expect(mapped).toEqual(["x"]);
  });
});
