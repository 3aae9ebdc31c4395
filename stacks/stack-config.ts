// The stack's `cutover:*` config as a whole: every key known, at the top and inside the
// `cutover:app`, `cutover:fleet`, `cutover:inventory` and `cutover:aws` blocks, so that a misspelt key is refused with the key it
// was meant to be instead of being ignored (and its default used) without a word.
import { UnknownKeyError, nearestKey, refuseUnknownKeys } from "../lib/plan";
import { APP_CONFIG_KEYS } from "../lib/config/app-config";
import { FLEET_CONFIG_KEYS } from "./fleet-config";
import { AWS_CONFIG_KEYS, INVENTORY_CONFIG_KEYS, INVENTORY_FROM_STACK_KEYS } from "../lib/config/inventory-keys";

/** Every `cutover:` key a stack may set; `notify` is read by the `cutover` command, not the program. */
export const STACK_CONFIG_KEYS = ["provider", "fleet", "fleetName", "app", "inventory", "sshPrivateKey", "aws", "appEnvironment", "notify"];

/** `config`: the stack's config as the SDK holds it (`cutover:app` → its JSON text). */
export function checkStackConfig(config: Record<string, string>): void {
  for (const key of Object.keys(config).sort()) {
    if (!key.startsWith("cutover:")) continue;
    const name = key.slice("cutover:".length);
    if (STACK_CONFIG_KEYS.includes(name)) continue;
    const near = nearestKey(name, STACK_CONFIG_KEYS);
    throw new UnknownKeyError(key, near ? `did you mean cutover:${near}?` : `use one of ${STACK_CONFIG_KEYS.map((k) => `cutover:${k}`).join(", ")}`);
  }
  refuseUnknownKeys(parsed(config["cutover:app"]), APP_CONFIG_KEYS, "cutover:app");
  refuseUnknownKeys(parsed(config["cutover:fleet"]), FLEET_CONFIG_KEYS, "cutover:fleet");
  const inventory = parsed(config["cutover:inventory"]);
  const fromStack = typeof inventory === "object" && inventory !== null && "fromStack" in inventory;
  refuseUnknownKeys(inventory, fromStack ? INVENTORY_FROM_STACK_KEYS : INVENTORY_CONFIG_KEYS, "cutover:inventory");
  refuseUnknownKeys(parsed(config["cutover:aws"]), AWS_CONFIG_KEYS, "cutover:aws");
}

/** A structured value, or undefined for a missing or plain one (its reader refuses that itself). */
function parsed(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
