#!/usr/bin/env bash
# `make demo` until `seid demo` lands: the shipped loan scenario in a fresh git repository,
# through `seid init` (pipeline detection), `seid analyze` and `seid compile`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seid="$root/.venv/bin/seid"
loan="$root/seid/scenarios/loan"
demo="${1:-$root/demo}"

rm -rf "$demo"
mkdir -p "$demo"
cd "$demo"
git init -q -b main
git config user.name "seid demo"
git config user.email "demo@seid.invalid"
git config commit.gpgsign false
for item in dvc.yaml params.yaml featurize.py train.py compliance_eval.py generate_data.py claims; do
  cp -r "$loan/$item" .
done
git add -A && git commit -qm "Loan scenario: pipeline and pre-registered claim"

echo "== seid init: a starter manifest, detected from the repository"
"$seid" init
mv sei.yaml sei.starter.yaml

echo "== the scenario's own risk program replaces the starter"
cp "$loan/sei.yaml" sei.yaml
git add -A && git commit -qm "Risk program for the credit scorer"

echo "== seid analyze"
"$seid" analyze
echo "== seid claim hash"
"$seid" claim hash claims/*.prml.yaml
echo "== seid compile"
"$seid" compile

cat <<TXT

Done. In $demo:
  sei.starter.yaml                 what 'seid init' wrote from dvc.yaml
  sei.yaml                         the loan scenario's risk program (committed)
  assessment_plan.oscal.yaml       the OSCAL assessment plan from 'seid compile'
Re-run 'seid compile' there: the plan comes out byte-identical.
TXT
