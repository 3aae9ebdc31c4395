#!/usr/bin/env node
// The `cutover` command. Its subcommands (history, rollback, unlock, deploy, report) are not
// built yet; until then it says so and points at what works today.
const usage = `cutover: the command-line tool is not available yet.
Today, deploy with \`pulumi up\` on a stack whose program uses Cutover's components
(this repo: \`npm run demo\`, \`npm run preview -- <stack>\`), and clear a stale host lock with the
\`rm -rf <root>/.cutover/lock\` that the lock's error message prints.`;

console.error(usage);
process.exit(process.argv.includes("--help") ? 0 : 2);
