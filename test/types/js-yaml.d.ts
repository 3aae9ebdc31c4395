// js-yaml ships no types and @types/js-yaml is not a dependency: the one call the AWS test makes.
declare module "js-yaml" {
  export function load(text: string): unknown;
}
