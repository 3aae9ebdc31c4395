import { defineConfig } from "vitest/config";

// Unit tests sit beside the layer they test (lib/**); tests that drive the real engine and
// the local fleet live in test/. Engine tests run one file at a time: two cores, one fleet.
export default defineConfig({
  test: {
    include: ["lib/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 20_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    reporters: ["default"],
  },
});
