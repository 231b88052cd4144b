// Counts one conformance run from the checks.json files the suite wrote, and judges it.
//
//   node count.mjs RESULTS_DIR SELECTION [SUITE_EXIT_STATUS]
//
// SELECTION is `active` or `all` (0.1.16 suites) or `req:REVISION` (0.2.0 requirement sets).
// How a run is counted, and why:
// - Every check the suite records is SUCCESS, FAILURE, WARNING or INFO. Passed and failed
//   count SUCCESS and FAILURE only: WARNING marks what a scenario cannot judge (e.g.
//   server-sse-polling's optional behaviours) and INFO is a note, as in the suite's own Total.
// - A requirement run scores exactly the `server` scenarios of the suite's frozen
//   requirements/REVISION.yaml. Scenarios under its `not_scored` (optional extensions such as
//   tasks-*, pending ones) still run and are listed, but never count: the suite's own rule.
// - A scored failure fails the run unless expected-failures.yml lists it for this selection,
//   as `scenario` or `scenario:check-id`. A listed entry that now passes fails the run too,
//   so the list never keeps an excuse we no longer need.
// - A scored scenario that wrote no results at all (it crashed or timed out) is a failure, and
//   so is a run the suite itself failed (non-zero exit) without any scored check failing.
// The last line is `COUNT <passed> <failed>`, read by scripts/test.sh.
import { readFileSync, readdirSync, existsSync, statSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "package.json"));
const YAML = require("yaml");

const [resultsDir, selection, suiteStatus = "0"] = process.argv.slice(2);
if (!resultsDir || !selection) {
  console.error("usage: node count.mjs RESULTS_DIR SELECTION");
  process.exit(2);
}

function checkFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...checkFiles(path));
    else if (name === "checks.json") out.push(path);
  }
  return out;
}

// `server-<scenario>-2026-11-29T23-59-01-123Z` (or without the prefix) → `<scenario>`.
function scenarioOf(file) {
  const dir = dirname(file).split("/").pop();
  return dir.replace(/-\d{4}-\d{2}-\d{2}T[\d-]+Z$/, "").replace(/^server-/, "");
}

const expectedAll = YAML.parse(readFileSync(join(here, "expected-failures.yml"), "utf8")) ?? {};
const expected = new Set(expectedAll[selection] ?? []);

let scored = null; // null: every scenario the suite ran is scored
let notScored = new Set();
if (selection.startsWith("req:")) {
  const rev = selection.slice(4);
  const reqFile = join(here, "node_modules/conformance-0.2/requirements", `${rev}.yaml`);
  const req = YAML.parse(readFileSync(reqFile, "utf8"));
  scored = new Set(req.server ?? []);
  notScored = new Set((req.not_scored ?? []).filter((e) => e.leg === "server").map((e) => e.scenario));
}

const seen = new Map();
if (existsSync(resultsDir)) {
  for (const file of checkFiles(resultsDir)) {
    let checks;
    try {
      checks = JSON.parse(readFileSync(file, "utf8"));
    } catch (e) {
      checks = [{ id: "results", status: "FAILURE", errorMessage: `unreadable ${file}: ${e}` }];
    }
    seen.set(scenarioOf(file), checks);
  }
}

let passed = 0;
let failed = 0;
const problems = [];
const usedExcuses = new Set();
let scoredFailures = 0; // excused ones too
const lines = [];
const names = scored ? [...new Set([...scored, ...seen.keys()])] : [...seen.keys()];
for (const scenario of names.sort()) {
  const checks = seen.get(scenario);
  const counts = scored === null || scored.has(scenario);
  if (!checks) {
    if (counts) {
      failed += 1;
      problems.push(`${scenario}: no results (the scenario did not finish)`);
    }
    continue;
  }
  let ok = 0;
  let bad = 0;
  for (const c of checks) {
    if (c.status === "SUCCESS") ok += 1;
    if (c.status !== "FAILURE") continue;
    const excuse = expected.has(scenario) ? scenario : expected.has(`${scenario}:${c.id}`) ? `${scenario}:${c.id}` : null;
    if (counts) scoredFailures += 1;
    if (excuse && counts) {
      usedExcuses.add(excuse);
      continue;
    }
    bad += 1;
    if (counts) problems.push(`${scenario}: ${c.id}: ${c.errorMessage ?? c.description ?? "failed"}`);
  }
  const tag = counts ? "" : notScored.has(scenario) ? "  (not scored)" : "  (not in the requirement set)";
  lines.push(`${bad === 0 ? "✓" : "✗"} ${scenario}: ${ok} passed, ${bad} failed${tag}`);
  if (counts) {
    passed += ok;
    failed += bad;
  }
}
for (const excuse of expected) {
  if (!usedExcuses.has(excuse)) {
    failed += 1;
    problems.push(`${excuse}: listed in expected-failures.yml for ${selection} but did not fail; remove it`);
  }
}
if (suiteStatus !== "0" && scoredFailures === 0) {
  failed += 1;
  problems.push(`the suite exited with status ${suiteStatus} but no scored check failed: see its log`);
}
console.log(lines.join("\n"));
for (const p of problems) console.log(`FAILED ${p}`);
console.log(`COUNT ${passed} ${failed}`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
