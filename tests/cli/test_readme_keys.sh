#!/usr/bin/env bash
# README.md's config-key table stays true: every row `mor config --keys` prints (key, default,
# meaning) appears in README.md verbatim, and README lists no config key the binary lacks.
source "$(dirname "$0")/common.sh"
"$MOR" config --keys | grep '^| `' >"$WORK/cli_rows"
[ "$(wc -l <"$WORK/cli_rows")" -gt 40 ] || fail "mor config --keys printed too few rows: $(cat "$WORK/cli_rows")"
while IFS= read -r row; do
  grep -qxF "$row" "$SRC_DIR/README.md" || fail "README.md lacks (or words differently) the row: $row"
done <"$WORK/cli_rows"
# Rows in README that look like config keys (name.with.dots or a top-level `name`) must exist.
cut -d'`' -f2 "$WORK/cli_rows" | sort >"$WORK/cli_keys"
grep -oE '^\| `(model|train|data)\.[a-z_.]+`' "$SRC_DIR/README.md" | cut -d'`' -f2 | sort -u >"$WORK/readme_keys"
extra=$(comm -13 "$WORK/cli_keys" "$WORK/readme_keys")
[ -z "$extra" ] || fail "README.md documents keys the binary does not have: $extra"
echo "ok: $(wc -l <"$WORK/cli_rows") config keys documented"
