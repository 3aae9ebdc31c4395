// Cutover's public API: components, providers, and the pure planning and script layers.
export { Host, SshEndpoint, connectionOf } from "./components/host";
export * from "./providers/hosts/local-fleet";
export { sh, quote, raw, script } from "./scripts/quote";
