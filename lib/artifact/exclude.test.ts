import { describe, expect, it } from "vitest";
import { compileExcludes, isExcluded } from "./exclude";

const excluded = (patterns: string[], rel: string, dir = false): boolean => isExcluded(compileExcludes(patterns), rel, dir);

describe("exclude rules", () => {
  it("always drops .git at any depth, and nothing else by default", () => {
    expect(excluded([], ".git", true)).toBe(true);
    expect(excluded([], "vendor/lib/.git", true)).toBe(true);
    expect(excluded([], ".gitignore")).toBe(false);
    expect(excluded([], "node_modules", true)).toBe(false);
  });

  it("matches a bare name or glob against the entry name at any depth", () => {
    expect(excluded(["node_modules"], "node_modules", true)).toBe(true);
    expect(excluded(["node_modules"], "packages/a/node_modules", true)).toBe(true);
    expect(excluded(["*.log"], "logs/deep/app.log")).toBe(true);
    expect(excluded(["*.log"], "app.log.gz")).toBe(false);
    expect(excluded(["?.txt"], "a.txt")).toBe(true);
    expect(excluded(["?.txt"], "ab.txt")).toBe(false);
  });

  it("anchors patterns with a slash at the app root; * does not cross /", () => {
    expect(excluded(["config/*.json"], "config/a.json")).toBe(true);
    expect(excluded(["config/*.json"], "config/sub/a.json")).toBe(false);
    expect(excluded(["config/*.json"], "other/config/a.json")).toBe(false);
    expect(excluded(["/build"], "build", true)).toBe(true);
    expect(excluded(["/build"], "src/build", true)).toBe(false);
    expect(excluded(["./build"], "build", true)).toBe(true);
  });

  it("lets ** span any number of directories", () => {
    expect(excluded(["**/*.map"], "a.map")).toBe(true);
    expect(excluded(["**/*.map"], "dist/x/y/a.map")).toBe(true);
    expect(excluded(["src/**/fixtures"], "src/fixtures", true)).toBe(true);
    expect(excluded(["src/**/fixtures"], "src/a/b/fixtures", true)).toBe(true);
    expect(excluded(["docs/**"], "docs/a/b.md")).toBe(true);
  });

  it("restricts a trailing / to directories", () => {
    expect(excluded(["tmp/"], "tmp", true)).toBe(true);
    expect(excluded(["tmp/"], "tmp", false)).toBe(false);
    expect(excluded(["tmp/"], "a/tmp", true)).toBe(true);
  });

  it("treats regex characters literally", () => {
    expect(excluded(["a+b(1).txt"], "a+b(1).txt")).toBe(true);
    expect(excluded(["a.txt"], "abtxt")).toBe(false);
  });

  it.each(["", "  ", "../x", "a/../b", "./", "/"])("rejects %j with the argument's index and an example", (p) => {
    expect(() => compileExcludes(["ok", p])).toThrow(/exclude\[1\] .*(non-empty|not a usable pattern)/);
  });
});
