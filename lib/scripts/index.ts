// The scripts layer: pure functions from validated arguments to shell text. Every value
// reaches the shell through quote.ts; nothing here runs anything.
export * from "./quote";
export { layout, type Layout } from "./layout";
export * from "./lock";
export * from "./host-job";
export * from "./release";
export * from "./activate";
export * from "./migrate";
export * from "./prune";
export * from "./haproxy";
export * from "./services";
