#!/usr/bin/env bash
# Checks docker/ without a container engine (tests/deploy/CMakeLists.txt registers each part;
# scripts/check-image builds the image itself, in CI):
#   check_deploy.sh dockerfile REPO           multi-stage: a build stage that compiles only the
#                                             exportwall target and its profile's training
#                                             programs (no tests, no test tools), a slim
#                                             runtime stage without compiler, numeric non-root
#                                             USER, probe, ports, STOPSIGNAL; every COPY source in
#                                             the build context; compose and Kubernetes agree
#   check_deploy.sh packages REPO [BINARY]    every build and runtime package exists in this
#                                             Debian; the runtime packages are exactly those of
#                                             the shared libraries BINARY needs (+ CA certificates)
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

# The lines of one stage ("build" or "runtime") of a Dockerfile (default docker/Dockerfile),
# continuation lines joined, comments dropped.
stage() {
    awk -v want="$1" '
        /^FROM / { name = ($NF == "AS" || $(NF-1) != "AS") ? "" : $NF; in_stage = (name == want); next }
        in_stage' "${2:-$dockerfile}" | grep -v '^[[:space:]]*#' | sed -e ':a' -e '/\\$/N; s/\\\n//; ta'
}
# The packages of a stage's `apt-get install` (option words and ${VARS} left out).
apt_packages() {
    stage "$1" "${2:-$dockerfile}" | grep -E 'apt-get install' |
        sed -E 's/.*apt-get install//; s/&&.*//' | tr ' ' '\n' |
        grep -E '^[a-z0-9][a-z0-9.+-]+$' | sort -u
}

case "$part" in
dockerfile)
    [ -f "$dockerfile" ] || { fail "docker/Dockerfile is missing"; finish; }
    grep -q '^FROM debian:12 AS build$' "$dockerfile" || fail "the build stage must be FROM debian:12 AS build"
    grep -q '^FROM debian:12-slim AS runtime$' "$dockerfile" || fail "the runtime stage must be FROM debian:12-slim AS runtime"
    [ "$(grep -E '^FROM ' "$dockerfile" | tail -1)" = "FROM debian:12-slim AS runtime" ] ||
        fail "the runtime stage must be the last (the default target of docker build)"
    # Parsed as scripts/check-image parses it: only instructions it knows, every COPY source in
    # the build context and not excluded by .dockerignore, COPY --from an earlier stage.
    if command -v python3 >/dev/null; then
        lint=$(python3 "$repo/scripts/check-image" --lint --file "$dockerfile" \
               --file "$repo/docker/demo-crm.Dockerfile" 2>&1) || fail "scripts/check-image --lint: $lint"
    else
        echo "note: python3 missing; scripts/check-image --lint not run"
    fi
    # The build context: .dockerignore keeps build output, git and node_modules out; no
    # Dockerfile-specific ignore file overrides it (BuildKit would prefer it).
    ignore="$repo/.dockerignore"
    if [ -f "$ignore" ]; then
        for p in build .git node_modules; do
            grep -qE "^(\*\*/)?${p//./\\.}/?\$" "$ignore" || fail ".dockerignore must exclude $p"
        done
    else
        fail ".dockerignore is missing"
    fi
    for f in "$repo"/docker/*.dockerignore; do
        [ -e "$f" ] && fail "${f#"$repo"/} overrides .dockerignore for BuildKit: keep one ignore file"
    done

    build=$(stage build)
    # Tests run in CI, not in the image build: no setup script, no test command, no test tools.
    grep -qE 'scripts/(setup|test)|ctest' <<<"$build" && fail "the build stage runs scripts/setup, scripts/test or ctest (tests run in CI)"
    grep -qE '^RUN .*apt-get install' <<<"$build" || fail "the build stage must install its packages with apt-get install"
    grep -qE '^RUN .*(pip |npm |curl |wget )' <<<"$build" && fail "the build stage installs something outside apt-get"
    for p in $(apt_packages build); do
        case "$p" in
        chromium*|nginx*|clang*|lld*|llvm*|libclang*|redis-server|rsyslog*|nodejs|npm|wrk|yamllint|\
        libgtest-dev|libgmock-dev|libbenchmark-dev|libyaml-cpp-dev|libxml2-utils|jq|curl|python3*|git|\
        build-essential|fonts-*)
            fail "the build stage installs $p, which compiling exportwall does not need" ;;
        esac
    done
    grep -qE '^RUN .*-DEXPORTWALL_TESTS=OFF' <<<"$build" || fail "the build stage must configure with -DEXPORTWALL_TESTS=OFF"
    grep -qE '^RUN .*-DEXPORTWALL_BENCH=OFF' <<<"$build" || fail "the build stage must configure with -DEXPORTWALL_BENCH=OFF"
    grep -qE '^RUN .*cmake --build .*--target exportwall( |$)' <<<"$build" || fail "the build stage must build the exportwall target (cmake --build … --target exportwall)"
    # Beside exportwall, only the two programs of its profile-guided build's training run.
    # shellcheck disable=SC2013 # the words of each --target list, not its lines
    for t in $(grep -oE 'cmake --build [^&]*--target [^&$]*' <<<"$build" | sed -E 's/.*--target //'); do
        case "$t" in
        exportwall|demo_crm|exportwall-http-load) ;;
        *) fail "the build stage builds $t (only exportwall, and demo_crm and exportwall-http-load for its training run)" ;;
        esac
    done
    grep -qE '^RUN .*cmake --build' <<<"$build" && ! grep -qE '^RUN .*cmake --build[^&]*--target' <<<"$build" &&
        fail "a cmake --build without --target builds everything"

    runtime=$(stage runtime)
    for p in $(apt_packages runtime); do
        case "$p" in
        *-dev|build-essential|gcc*|g++*|cpp*|clang*|cmake*|ninja-build|make|binutils*|pkg-config|pkgconf|curl|wget|git)
            fail "the runtime stage installs $p (build tool or convenience): the image holds the binary, its libraries and CA certificates" ;;
        esac
    done
    grep -qw ca-certificates <<<"$(apt_packages runtime)" || fail "the runtime stage must install ca-certificates"
    grep -qE '^RUN .*rm -rf /var/lib/apt/lists' <<<"$runtime" || fail "the runtime stage must remove apt's package lists"
    user=$(grep -E '^USER ' <<<"$runtime" | tail -1 | awk '{print $2}')
    if ! [[ "$user" =~ ^[1-9][0-9]*(:[1-9][0-9]*)?$ ]]; then
        fail "the runtime stage must end with USER uid[:gid], numeric and not root (is '${user}'), so Kubernetes' runAsNonRoot can check it"
    fi
    uid=${user%%:*}
    grep -qE "useradd .*--uid $uid( |$)" <<<"$runtime" || fail "the runtime stage must create the user with uid $uid (useradd --uid)"
    while read -r from; do
        [ -z "$from" ] || [ "$from" = "build" ] || fail "the runtime stage copies from '$from' (only from the build stage)"
    done <<<"$(grep -oE '^COPY --from=[^ ]+' <<<"$runtime" | sed 's/COPY --from=//')"
    grep -qE '^COPY --from=build .*/exportwall +/usr/local/bin/exportwall$' <<<"$runtime" || fail "the runtime stage must copy the exportwall binary to /usr/local/bin/exportwall"
    grep -qE '^HEALTHCHECK .*/healthz' <<<"$runtime" || fail "HEALTHCHECK must call /healthz"
    grep -qE '^HEALTHCHECK .*curl' <<<"$runtime" && fail "HEALTHCHECK uses curl, which the image does not have"
    { grep -qE '^EXPOSE .*8443' <<<"$runtime" && grep -qE '^EXPOSE .*9901' <<<"$runtime"; } || fail "EXPOSE must name 8443 and 9901"
    grep -qE '^STOPSIGNAL SIGTERM$' <<<"$runtime" || fail "STOPSIGNAL must be SIGTERM"
    grep -qF 'ENTRYPOINT ["exportwall", "serve", "--config", "/etc/exportwall/exportwall.xml"]' <<<"$runtime" || fail "ENTRYPOINT must be exportwall serve --config /etc/exportwall/exportwall.xml"

    # The manifests agree with the image: the same uid, and no curl in exec probes (the image
    # has none); compose builds each service from a Dockerfile that exists.
    deployment="$repo/docker/k8s/deployment.yaml"
    if [ -f "$deployment" ]; then
        grep -qE "runAsUser: $uid\$" "$deployment" || fail "docker/k8s/deployment.yaml runAsUser must be the image's uid $uid"
        [ "$user" = "$uid" ] || grep -qE "runAsGroup: ${user#*:}\$" "$deployment" || fail "docker/k8s/deployment.yaml runAsGroup must be the image's gid ${user#*:}"
        grep -qE '(^|[^a-z])curl ' "$deployment" && fail "docker/k8s/deployment.yaml runs curl in the exportwall container, which the image does not have"
    fi
    compose="$repo/docker/compose.yaml"
    if [ -f "$compose" ]; then
        while read -r f; do
            [ -f "$repo/$f" ] || fail "docker/compose.yaml builds from $f, which does not exist"
        done <<<"$(sed -n 's/^ *dockerfile: *//p' "$compose")"
        grep -qE '^ *dockerfile: docker/Dockerfile$' "$compose" || fail "docker/compose.yaml must build exportwall from docker/Dockerfile"
    fi
    finish
    ;;
packages)
    binary=${3:-}
    command -v apt-cache >/dev/null || skip "apt-cache is not available (not Debian)"
    pkgs=$(apt_packages runtime)
    build_pkgs=$(apt_packages build)
    [ -n "$pkgs" ] || fail "no runtime packages found in the runtime stage"
    [ -n "$build_pkgs" ] || fail "no build packages found in the build stage"
    # One apt-cache call for all (each call reads the whole package cache): the packages it
    # shows exist; libc6 proves the cache is populated at all.
    # shellcheck disable=SC2086
    known=$(apt-cache show --no-all-versions libc6 $pkgs $build_pkgs 2>/dev/null | sed -n 's/^Package: //p' | sort -u)
    grep -qx libc6 <<<"$known" || skip "apt-cache knows no packages (run apt-get update)"
    for p in $pkgs; do
        grep -qxF "$p" <<<"$known" || fail "runtime package $p does not exist in this Debian"
    done
    for p in $build_pkgs; do
        grep -qxF "$p" <<<"$known" || fail "build package $p does not exist in this Debian"
    done
    if [ -n "$binary" ] && [ -x "$binary" ] && command -v ldd >/dev/null && command -v dpkg >/dev/null; then
        # Shared libraries of the real binary → their Debian packages; each must be installed by
        # the runtime stage or be part of debian:12-slim itself, and each runtime package but
        # ca-certificates must provide one of them (exactly the libraries it needs). Debian 12
        # merges /lib into /usr/lib, so a library is looked up under both names, in one dpkg call.
        base="libc6 libstdc++6 libgcc-s1 zlib1g"
        libs=$(ldd "$binary" | awk '/=>/ { print $1, ($3 ~ /^\//) ? $3 : "-" }')
        candidates=()
        while read -r lib path; do
            [ "$path" != "-" ] || { fail "$binary needs $lib, which is not found here"; continue; }
            real=$(readlink -f "$path")
            for c in "$path" "$real"; do candidates+=("$c" "${c#/usr}" "/usr${c#/usr}"); done
        done <<<"$libs"
        owners=$(dpkg -S "${candidates[@]}" 2>/dev/null)
        needed=""
        while read -r lib path; do
            [ "$path" != "-" ] || continue
            real=$(readlink -f "$path")
            pkg=$(awk -F': ' -v a="$path" -v b="$real" -v c="${path#/usr}" -v d="${real#/usr}" \
                '{ p = $2; q = p; sub(/^\/usr/, "", q) } p == a || p == b || q == c || q == d { split($1, x, ":"); print x[1]; exit }' <<<"$owners")
            [ -n "$pkg" ] || { echo "note: no package owns $path (built locally?)"; continue; }
            needed="$needed $pkg"
            grep -qwF "$pkg" <<<"$pkgs $base" || fail "$(basename "$binary") needs $lib from $pkg, missing from the runtime stage"
        done <<<"$libs"
        for p in $pkgs; do
            [ "$p" = ca-certificates ] && continue
            grep -qwF "$p" <<<"$needed" || fail "runtime package $p provides no library $(basename "$binary") needs: the runtime stage holds exactly its libraries"
        done
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
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        skip "node and npm are needed for the schema validators"
    fi
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
