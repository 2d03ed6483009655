#!/usr/bin/env bash
# The reference pages and the README's function list are what the code generates: a function,
# setting or error changed without ./scripts/reference being run fails here.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

generated="${E2E_WORK}/reference"
"${E2E_ROOT}/scripts/reference" "$generated" 2>/dev/null
for page in functions settings errors; do
    expect_eq "docs/reference/${page}.md is what ./scripts/reference generates" \
        "$(diff -u "${E2E_ROOT}/docs/reference/${page}.md" "${generated}/${page}.md" && echo same)" "same"
done
committed="$(sed -n '/^<!-- functions -->$/,/^<!-- \/functions -->$/p' "${E2E_ROOT}/README.md" | sed '1d;$d')"
expect_eq "the README lists every function as ./scripts/reference generates it" \
    "$(diff -u <(printf '%s\n' "$committed") "${generated}/readme-api.md" && echo same)" "same"
e2e_summary
