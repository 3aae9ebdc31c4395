import { describe, expect, it } from "vitest";
import { layout } from "./layout";

describe("layout", () => {
  it("derives every on-host path from the deploy root", () => {
    const l = layout("/srv/app/");
    expect({ ...l }).toMatchObject({
      root: "/srv/app",
      releasesDir: "/srv/app/releases",
      sharedDir: "/srv/app/shared",
      current: "/srv/app/current",
      currentTmp: "/srv/app/current.tmp",
      cutoverDir: "/srv/app/.cutover",
      lockFile: "/srv/app/.cutover/deploy.lock",
      lockInfo: "/srv/app/.cutover/deploy.lock.info",
      uploadsDir: "/srv/app/.cutover/uploads",
      previousFile: "/srv/app/.cutover/previous",
      historyLog: "/srv/app/.cutover/history.log",
      migrationsDir: "/srv/app/.cutover/migrations",
    });
    const id = "v1-0123456789ab";
    expect(l.releaseDir(id)).toBe("/srv/app/releases/v1-0123456789ab");
    expect(l.currentTarget(id)).toBe("releases/v1-0123456789ab");
    expect(l.partialDir(id)).toBe("/srv/app/releases/.v1-0123456789ab.partial");
    expect(l.preparedMarker(id)).toBe("/srv/app/releases/v1-0123456789ab/.prepared");
    expect(l.activatedMarker(id)).toBe("/srv/app/releases/v1-0123456789ab/.activated");
    expect(l.migrationMarker(id)).toBe("/srv/app/.cutover/migrations/v1-0123456789ab");
    expect(l.sharedPath("config/.env")).toBe("/srv/app/shared/config/.env");
  });

  it("rejects a bad root or release id with the argument named", () => {
    expect(() => layout("srv/app")).toThrow(/^root "srv\/app" is invalid/);
    expect(() => layout("/srv/app").releaseDir("../../etc")).toThrow(/^releaseId "..\/..\/etc" is invalid/);
    expect(() => layout("/srv/app").sharedPath("../x")).toThrow(/^path "..\/x" is invalid/);
  });
});
