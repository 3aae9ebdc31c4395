import { describe, expect, it } from "vitest";
import { DEPLOYMENT_TYPE, packageSchema } from "./schema";
import { APP_CONFIG_KEYS } from "../config/app-config";
import { INVENTORY_CONFIG_KEYS } from "../config/inventory-keys";
import type { KeyShape } from "../plan";

type SchemaType = { $ref?: string; properties?: Record<string, SchemaType>; items?: SchemaType; additionalProperties?: SchemaType };
const schema = packageSchema("9.9.9") as { version: string; types: Record<string, SchemaType>; resources: Record<string, { inputProperties: Record<string, SchemaType> }> };
const resolve = (t: SchemaType): SchemaType => (t.$ref ? schema.types[t.$ref.replace("#/types/", "")] : t);

/** Every key path the key list knows and the schema's types do not, or the other way round. */
function mismatches(shape: KeyShape, type: SchemaType, at: string): string[] {
  if (shape === "any") return [];
  const t = resolve(type);
  if ("each" in shape) {
    const inner = t.items ?? t.additionalProperties;
    return inner ? mismatches(shape.each, inner, `${at}[]`) : [`${at}: the schema has no items`];
  }
  const props = t.properties ?? {};
  const keys = Object.keys(shape.keys);
  return [
    ...keys.filter((k) => !(k in props)).map((k) => `${at}.${k}: not in the schema`),
    ...Object.keys(props).filter((k) => !keys.includes(k)).map((k) => `${at}.${k}: not in the key list`),
    ...keys.filter((k) => k in props).flatMap((k) => mismatches(shape.keys[k], props[k], `${at}.${k}`)),
  ];
}

describe("the package schema", () => {
  const inputs = schema.resources[DEPLOYMENT_TYPE].inputProperties;

  it("gives the Deployment's app argument exactly the keys of the cutover:app block, at every depth", () => {
    expect(mismatches(APP_CONFIG_KEYS, inputs.app, "app")).toEqual([]);
  });

  it("gives its inventory argument exactly the keys of cutover:inventory, at every depth", () => {
    expect(mismatches(INVENTORY_CONFIG_KEYS, inputs.inventory, "inventory")).toEqual([]);
  });

  it("names the package's version, and keeps the deploy key secret", () => {
    expect(schema.version).toBe("9.9.9");
    expect(inputs.sshPrivateKey).toMatchObject({ type: "string", secret: true });
  });
});
