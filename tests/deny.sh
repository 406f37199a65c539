#!/usr/bin/env bash
# Supply-chain checks with cargo-deny (configuration: deny.toml at the repository root).
#
#   tests/deny.sh            licenses, bans and sources always; advisories when the RustSec
#                            database can be fetched (or is already in ~/.cargo/advisory-dbs)
#   SESAME_DENY_ADVISORIES=1 tests/deny.sh
#                            advisories are required: failing to fetch the database is an error
#
# Why advisories may not run: the RustSec database is a git repository on GitHub, and the project's
# machines reach only package registries (crates.io, PyPI, Debian, npm). licenses/bans/sources need
# only `cargo metadata`, which works from the local registry cache. The `yanked` check is part of
# advisories. Exit status: non-zero when any check that ran failed (or when advisories are required
# and could not run).
set -euo pipefail
cd "$(dirname "$0")/.."

version=0.20.2
export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo deny --version >/dev/null 2>&1; then
    echo "deny.sh: installing cargo-deny $version from crates.io" >&2
    cargo install cargo-deny --version "$version" --locked >&2
fi
echo "deny.sh: $(cargo deny --version)"

status=0
cargo deny --all-features check licenses bans sources || status=$?

if cargo deny fetch db >/tmp/deny-fetch.$$ 2>&1; then
    cargo deny --all-features check --disable-fetch advisories || status=$?
else
    echo "deny.sh: NOT CHECKED: advisories (the RustSec database could not be fetched):" >&2
    tail -n 3 /tmp/deny-fetch.$$ >&2
    if [[ "${SESAME_DENY_ADVISORIES:-0}" == 1 ]]; then
        status=1
    fi
fi
rm -f /tmp/deny-fetch.$$
if [[ $status == 0 ]]; then
    echo "deny.sh: passed"
else
    echo "deny.sh: FAILED" >&2
fi
exit $status
