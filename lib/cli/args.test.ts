import { describe, expect, it } from "vitest";
import { UsageError, parseArgs, positiveInt } from "./args";

const spec = { stack: { value: true, help: "" }, json: { help: "" } };

describe("cutover's option parsing", () => {
  it("reads --name value, --name=value and flags", () => {
    expect(parseArgs(["--stack", "dev", "--json"], spec)).toEqual({ _: [], stack: "dev", json: true });
    expect(parseArgs(["--stack=prod"], spec)).toEqual({ _: [], stack: "prod" });
  });

  it("refuses unknown options and missing values, naming the valid ones", () => {
    expect(() => parseArgs(["--stak", "dev"], spec)).toThrow(/unknown option --stak; options: --stack, --json/);
    expect(() => parseArgs(["--stack"], spec)).toThrow(UsageError);
    expect(() => parseArgs(["--stack", "--json"], spec)).toThrow(/--stack needs a value/);
    expect(() => parseArgs(["--json=1"], spec)).toThrow(/takes no value/);
  });

  it("accepts only whole numbers ≥ 1 for counts", () => {
    expect(positiveInt(parseArgs(["--stack", "3"], spec), "stack")).toBe(3);
    expect(() => positiveInt(parseArgs(["--stack", "0"], spec), "stack")).toThrow(/whole number/);
    expect(() => positiveInt(parseArgs(["--stack", "2x"], spec), "stack")).toThrow(/whole number/);
  });
});
