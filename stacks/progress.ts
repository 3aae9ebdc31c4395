// The demo and the benchmark print the same live progress as `cutover deploy`.
export { followRollout, Progress } from "../lib/cli/progress";
