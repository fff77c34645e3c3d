#!/bin/sh
# Runs mutation testing for the named scopes (default: all, one after another); see mutation-scopes.mjs.
set -e
cd "$(dirname "$0")/.."
scopes="$*"
[ -n "$scopes" ] || scopes="crypto auth webhook sync-loop reply binding delivery stores"
for scope in $scopes; do
  echo "== mutation scope: $scope"
  MUTATION_SCOPE="$scope" pnpm exec stryker run stryker.config.mjs
done
