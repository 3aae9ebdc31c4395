import { defineConfig } from "vitest/config";

// Unit tests sit beside the layer they test (lib/**); tests that drive the real engine and
// the local fleet live in test/. The unit files run first, two at a time: most of their time
// is spent waiting on real HAProxy checks and shells, not on the CPU. Then the engine files,
// one at a time in one worker process: two cores, and each deploys under load, which a second
// file beside it would starve. test/aws-prod.test.ts sets Pulumi's in-process mocks and
// CUTOVER_CACHE, which must not leak into that shared process: it runs with the unit files.
const inProcessMocks = "test/aws-prod.test.ts";

export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 120_000,
    maxWorkers: 2,
    reporters: ["default"],
    projects: [
      { extends: true, test: { name: "unit", include: ["lib/**/*.test.ts", inProcessMocks], sequence: { groupOrder: 0 } } },
      {
        extends: true,
        test: {
          name: "e2e",
          include: ["test/**/*.test.ts"],
          exclude: [inProcessMocks],
          sequence: { groupOrder: 1 },
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
