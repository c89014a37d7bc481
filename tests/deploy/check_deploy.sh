#!/usr/bin/env bash
# Checks docker/ without a Docker engine (tests/deploy/CMakeLists.txt registers each part):
#   check_deploy.sh dockerfile REPO           the build stage runs exactly scripts/setup and the
#                                             test command; runtime stage slim, non-root, healthy
#   check_deploy.sh packages REPO [BINARY]    every runtime package exists in this Debian, and
#                                             covers every shared library BINARY needs
#   check_deploy.sh yamllint REPO             yamllint over docker/compose.yaml and docker/k8s
#   check_deploy.sh manifests REPO WORKDIR    compose schema + Kubernetes schemas (npm packages
#                                             from tests/deploy/package.json, installed in WORKDIR)
# Exit 0 pass, 1 fail (one line per problem), 77 skipped (with the reason).
set -uo pipefail

part=${1:?part}
repo=${2:?repo}
dockerfile="$repo/docker/Dockerfile"
failures=0
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
skip() { echo "SKIP $*"; exit 77; }
finish() { [ "$failures" -eq 0 ] && echo "ok: $part" && exit 0; exit 1; }

# The lines of one stage ("build" or "runtime"), continuation lines joined.
stage() {
    awk -v want="$1" '
        /^FROM / { name = ($NF == "AS" || $(NF-1) != "AS") ? "" : $NF; in_stage = (name == want); next }
        in_stage' "$dockerfile" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' | grep -v '^[[:space:]]*#'
}

case "$part" in
dockerfile)
    [ -f "$dockerfile" ] || { fail "docker/Dockerfile is missing"; finish; }
    grep -q '^FROM debian:12 AS build$' "$dockerfile" || fail "the build stage must be FROM debian:12 AS build"
    grep -q '^FROM debian:12-slim AS runtime$' "$dockerfile" || fail "the runtime stage must be FROM debian:12-slim AS runtime"
    build_runs=$(stage build | grep -E '^RUN ' | sed -E 's/[[:space:]]+/ /g')
    # The first two RUN steps are exactly what a developer and CI run.
    first=$(sed -n 1p <<<"$build_runs")
    second=$(sed -n 2p <<<"$build_runs")
    [ "$first" = "RUN scripts/setup" ] || fail "the build stage's first RUN must be 'scripts/setup' (is '$first')"
    [ "$second" = "RUN scripts/test --quick" ] || fail "the build stage's second RUN must be 'scripts/test --quick' (is '$second')"
    grep -q -- '--quick' "$repo/scripts/test" || fail "scripts/test no longer takes --quick"
    [ -x "$repo/scripts/setup" ] || fail "scripts/setup is missing or not executable"
    # Nothing else installs build dependencies behind scripts/setup's back.
    if grep -qE 'apt-get|apt |pip |npm ' <<<"$(sed -n '3,$p' <<<"$build_runs")"; then
        fail "the build stage installs packages outside scripts/setup"
    fi
    stage build | grep -qE '^RUN .*cmake --install build/release' || fail "the build stage must install the release build (cmake --install build/release)"
    runtime=$(stage runtime)
    grep -qE '^USER exportwall' <<<"$runtime" || fail "the runtime stage must run as the non-root user exportwall"
    grep -qE 'useradd .*exportwall' <<<"$runtime" || fail "the runtime stage must create the user exportwall"
    grep -qE '^HEALTHCHECK .*curl .*/healthz' <<<"$runtime" || fail "HEALTHCHECK must call /healthz"
    grep -qE '^EXPOSE .*8443' <<<"$runtime" && grep -qE '^EXPOSE .*9901' <<<"$runtime" || fail "EXPOSE must name 8443 and 9901"
    grep -qF 'ENTRYPOINT ["exportwall", "serve", "--config", "/etc/exportwall/exportwall.xml"]' <<<"$runtime" || fail "ENTRYPOINT must be exportwall serve --config /etc/exportwall/exportwall.xml"
    grep -qE 'install.*(-dev|build-essential|cmake|g\+\+)' <<<"$runtime" && fail "the runtime stage installs build tools"
    finish
    ;;
packages)
    binary=${3:-}
    command -v apt-cache >/dev/null || skip "apt-cache is not available (not Debian)"
    pkgs=$(stage runtime | grep -E 'apt-get install' | sed -E 's/.*apt-get install//; s/&&.*//' | tr ' ' '\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' | sort -u)
    [ -n "$pkgs" ] || fail "no runtime packages found in the runtime stage"
    # One apt-cache call for all (each call reads the whole package cache): the packages it
    # shows exist; libc6 proves the cache is populated at all.
    # shellcheck disable=SC2086
    known=$(apt-cache show --no-all-versions libc6 $pkgs 2>/dev/null | sed -n 's/^Package: //p' | sort -u)
    grep -qx libc6 <<<"$known" || skip "apt-cache knows no packages (run apt-get update)"
    for p in $pkgs; do
        grep -qxF "$p" <<<"$known" || fail "runtime package $p does not exist in this Debian"
    done
    grep -qw curl <<<"$pkgs" || fail "HEALTHCHECK uses curl, which the runtime stage must install"
    if [ -n "$binary" ] && [ -x "$binary" ] && command -v ldd >/dev/null && command -v dpkg >/dev/null; then
        # Shared libraries of the real binary → their Debian packages; each must be installed by
        # the runtime stage or be part of debian:12-slim itself. Debian 12 merges /lib into
        # /usr/lib, so a library is looked up under both names, in one dpkg call.
        base="libc6 libstdc++6 libgcc-s1 zlib1g"
        libs=$(ldd "$binary" | awk '/=>/ { print $1, ($3 ~ /^\//) ? $3 : "-" }')
        candidates=()
        while read -r lib path; do
            [ "$path" != "-" ] || { fail "$binary needs $lib, which is not found here"; continue; }
            real=$(readlink -f "$path")
            for c in "$path" "$real"; do candidates+=("$c" "${c#/usr}" "/usr${c#/usr}"); done
        done <<<"$libs"
        owners=$(dpkg -S "${candidates[@]}" 2>/dev/null)
        while read -r lib path; do
            [ "$path" != "-" ] || continue
            real=$(readlink -f "$path")
            pkg=$(awk -F': ' -v a="$path" -v b="$real" -v c="${path#/usr}" -v d="${real#/usr}" \
                '{ p = $2; q = p; sub(/^\/usr/, "", q) } p == a || p == b || q == c || q == d { split($1, x, ":"); print x[1]; exit }' <<<"$owners")
            [ -n "$pkg" ] || { echo "note: no package owns $path (built locally?)"; continue; }
            grep -qwF "$pkg" <<<"$pkgs $base" || fail "$(basename "$binary") needs $lib from $pkg, missing from the runtime stage"
        done <<<"$libs"
    elif [ -n "$binary" ]; then
        echo "note: $binary not built; its libraries were not checked"
    fi
    finish
    ;;
yamllint)
    command -v yamllint >/dev/null || skip "yamllint is not installed (Debian package yamllint)"
    yamllint -f parsable -c "$repo/tests/deploy/yamllint.yaml" "$repo/docker/compose.yaml" "$repo/docker/k8s" || fail "yamllint found problems"
    finish
    ;;
manifests)
    work=${3:?workdir}
    command -v node >/dev/null && command -v npm >/dev/null || skip "node and npm are needed for the schema validators"
    mkdir -p "$work"
    if ! cmp -s "$repo/tests/deploy/package.json" "$work/package.json" || [ ! -d "$work/node_modules/kubernetes-models" ]; then
        cp "$repo/tests/deploy/package.json" "$work/package.json"
        if ! (cd "$work" && npm install --no-audit --no-fund --loglevel=error >npm-install.log 2>&1); then
            cat "$work/npm-install.log"
            rm -f "$work/package.json"
            skip "npm install failed (no registry?): the manifests were not validated"
        fi
    fi
    cp "$repo/tests/deploy/check_manifests.mjs" "$work/check_manifests.mjs"
    (cd "$work" && node check_manifests.mjs compose "$repo") || failures=$((failures + 1))
    (cd "$work" && node check_manifests.mjs k8s "$repo") || failures=$((failures + 1))
    finish
    ;;
*)
    echo "usage: check_deploy.sh dockerfile|packages|yamllint|manifests REPO [...]" >&2
    exit 2
    ;;
esac
