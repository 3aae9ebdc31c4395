import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  CutoverInputError,
  describeValue,
  validateAbsolutePath,
  validateCommand,
  validateDeployRoot,
  validateHostName,
  validateInteger,
  validateLabel,
  validateNonRootUser,
  validatePort,
  validateRelativePath,
  validateRoleName,
  validateServiceName,
  validateSha256,
  validateUnixUser,
} from "./validate";

function errorOf(fn: () => unknown): CutoverInputError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CutoverInputError);
    return e as CutoverInputError;
  }
  throw new Error("expected a CutoverInputError");
}

describe("CutoverInputError", () => {
  it("names the argument, the value and the fix", () => {
    const e = errorOf(() => validateHostName("Web_3", "hosts[2]"));
    expect(e.message).toBe(
      'hosts[2] "Web_3" is invalid: use 1-31 characters: a lowercase letter first, then lowercase letters, digits or dashes (e.g. "web1")',
    );
    expect(e.argument).toBe("hosts[2]");
    expect(e.value).toBe("Web_3");
    expect(e.name).toBe("CutoverInputError");
    expect(e).toBeInstanceOf(Error);
  });

  it("says the same refusal under the name the user wrote (a config key)", () => {
    const e = errorOf(() => validateInteger(0, "batchSize", { min: 1 }));
    expect(e.namedAs("cutover:app.rollout.batchSize")).toBe("cutover:app.rollout.batchSize 0 is invalid: use a whole number ≥ 1");
  });

  it("describes values readably", () => {
    expect(describeValue("a")).toBe('"a"');
    expect(describeValue(3)).toBe("3");
    expect(describeValue(undefined)).toBe("(missing)");
    expect(describeValue(["x"])).toBe('["x"]');
    expect(describeValue("x".repeat(100))).toBe(JSON.stringify("x".repeat(80) + "…"));
  });
});

describe("host, role, user and service names", () => {
  it("host names", () => {
    for (const ok of ["web1", "a", "media-2", "a".repeat(31)]) expect(validateHostName(ok)).toBe(ok);
    for (const bad of ["", "1web", "Web", "web_1", "web 1", "a".repeat(32), "web;rm", 7, undefined]) {
      expect(errorOf(() => validateHostName(bad)).message).toMatch(/^host .* is invalid: /);
    }
  });

  it("role names", () => {
    for (const ok of ["web", "celery_beat", "worker-2"]) expect(validateRoleName(ok)).toBe(ok);
    for (const bad of ["", "_web", "Web", "a b"]) expect(() => validateRoleName(bad, "roles.web")).toThrow(/^roles\.web /);
  });

  it("unix users and the non-root rule", () => {
    expect(validateUnixUser("app")).toBe("app");
    expect(validateUnixUser("root")).toBe("root");
    expect(() => validateUnixUser("App")).toThrow(/^user "App" is invalid/);
    expect(() => validateNonRootUser("root", "appUser")).toThrow(
      'appUser "root" is invalid: run the app as a dedicated non-root account (e.g. "app")',
    );
    expect(validateNonRootUser("deploy")).toBe("deploy");
  });

  it("service names", () => {
    for (const ok of ["myapp", "myapp-web", "app@1", "a.b_c"]) expect(validateServiceName(ok)).toBe(ok);
    for (const bad of ["", "-x", "a b", "a/b", "a\nb", "x".repeat(65)]) expect(() => validateServiceName(bad)).toThrow(/^name /);
  });
});

describe("paths", () => {
  it("absolute paths are normalised", () => {
    expect(validateDeployRoot("/srv/app")).toBe("/srv/app");
    expect(validateDeployRoot("/srv//app/")).toBe("/srv/app");
    expect(validateDeployRoot("/srv/my app's $(dir)")).toBe("/srv/my app's $(dir)");
  });

  it("rejects relative, dot segments, control characters and the filesystem root", () => {
    for (const bad of ["srv/app", "", "/srv/../etc", "/srv/./app", "/srv/app\n", "/srv/\tapp", "/srv/\0"]) {
      expect(errorOf(() => validateDeployRoot(bad)).message).toMatch(/^root .* is invalid: use an absolute path such as "\/srv\/app"/);
    }
    expect(() => validateDeployRoot("/")).toThrow('root "/" is invalid: use a dedicated directory such as "/srv/app", not the filesystem root');
    expect(() => validateAbsolutePath("//", "socket")).toThrow(/^socket "\/\/" is invalid/);
  });

  it("relative paths", () => {
    expect(validateRelativePath("log", "linkedDirs[0]")).toBe("log");
    expect(validateRelativePath("config//.env/", "linkedFiles[0]")).toBe("config/.env");
    for (const bad of ["/log", "", "../x", "a/../b", "./a", "a\nb", "/"]) {
      expect(() => validateRelativePath(bad, "linkedDirs[1]")).toThrow(/^linkedDirs\[1\] .* is invalid: use a path inside the release/);
    }
  });

  it("property: accepted absolute paths have no dot segments, no control characters, and are stable", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }).map((s) => "/" + s), (p) => {
        let out: string;
        try {
          out = validateAbsolutePath(p);
        } catch (e) {
          expect(e).toBeInstanceOf(CutoverInputError);
          return;
        }
        expect(out.startsWith("/")).toBe(true);
        expect(out.split("/").slice(1)).not.toContain("..");
        expect(out.split("/").slice(1)).not.toContain("");
        expect(/[\u0000-\u001f\u007f]/.test(out)).toBe(false);
        expect(validateAbsolutePath(out)).toBe(out);
      }),
    );
  });
});

describe("numbers and text", () => {
  it("ports", () => {
    expect(validatePort(8080)).toBe(8080);
    for (const bad of [0, 65536, 80.5, -1, "80", NaN]) {
      expect(() => validatePort(bad, "lb.port")).toThrow(/^lb\.port .* is invalid: use a whole number between 1 and 65535$/);
    }
  });

  it("integers with a range and unit", () => {
    expect(validateInteger(5, "drainTimeout", { min: 1, unit: "seconds" })).toBe(5);
    expect(() => validateInteger(0, "drainTimeout", { min: 1, unit: "seconds" })).toThrow(
      "drainTimeout 0 is invalid: use a whole number ≥ 1 (seconds)",
    );
    expect(() => validateInteger(11, "retries", { min: 0, max: 10 })).toThrow("retries 11 is invalid: use a whole number between 0 and 10");
  });

  it("sha256", () => {
    expect(validateSha256("AB".repeat(32))).toBe("ab".repeat(32));
    expect(() => validateSha256("ab")).toThrow(/^sha256 "ab" is invalid/);
  });

  it("labels and commands", () => {
    expect(validateLabel("Alice Smith <a@x.org>", "owner")).toBe("Alice Smith <a@x.org>");
    for (const bad of ["", "a\nb", "x".repeat(101), 3]) expect(() => validateLabel(bad, "owner")).toThrow(/^owner /);
    expect(validateCommand("npm ci && npm run build", "installCommand")).toBe("npm ci && npm run build");
    for (const bad of ["", "   ", "a\0b", undefined]) expect(() => validateCommand(bad, "installCommand")).toThrow(/^installCommand /);
  });
});
