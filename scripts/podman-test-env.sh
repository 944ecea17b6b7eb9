#!/usr/bin/env bash
# A local container engine for the container tests (SPEC section 9), made idempotently:
#
#   eval "$(bash scripts/podman-test-env.sh)"      # prints: export PULSE_TEST_CONTAINER_ENGINE=…
#
# - installs podman, runc and busybox-static from Debian's packages when podman is missing;
# - writes a containers.conf that this kind of sandbox accepts (runc, no default ulimits) and
#   points CONTAINERS_CONF at it;
# - serves the Docker Engine API with `podman system service` on a Unix socket (started once,
#   left running, reused by the next call);
# - builds the two test images locally (there is no registry here):
#     localhost/pulse-test:busybox  /bin/busybox and its applet links, no bash
#     localhost/pulse-test:bash     the same plus /bin/bash and the libraries ldd lists
#
# Everything it says goes to stderr except the export line(s) on stdout.
set -euo pipefail

DIR="${PULSE_PODMAN_DIR:-/tmp/pulse-podman}"
SOCK="$DIR/podman.sock"
CONF="$DIR/containers.conf"
say() { echo "podman-test-env: $*" >&2; }

if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1 || [ ! -x /bin/busybox ]; then
  say "installing podman, runc and busybox-static"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq podman runc busybox-static >&2
fi

mkdir -p "$DIR"
cat >"$CONF" <<'EOF'
[containers]
default_ulimits = []

[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF="$CONF"

ping() { curl -fsS --max-time 5 --unix-socket "$SOCK" http://d/v1.40/_ping >/dev/null 2>&1; }
# A service whose working directory has been deleted (started from a checkout removed since)
# still answers pings but cannot start a container: conmon logs "Failed to get working
# directory" and runc fails with "write child: broken pipe". Such a service is stopped here and
# started again, from $DIR, which stays.
for pid in $(pgrep -f "podman system service .*unix://$SOCK" || true); do
  case "$(readlink "/proc/$pid/cwd" 2>/dev/null || true)" in
    *" (deleted)")
      say "restarting podman system service $pid: its working directory was deleted"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      ;;
  esac
done
if ! ping; then
  say "starting podman system service on $SOCK"
  rm -f "$SOCK"
  (cd "$DIR" && exec nohup podman system service --time=0 "unix://$SOCK" >"$DIR/service.log" 2>&1) &
  echo $! >"$DIR/service.pid"
  for _ in $(seq 1 60); do ping && break; sleep 0.5; done
  ping || { say "the service did not answer on $SOCK (see $DIR/service.log)"; exit 1; }
fi

build_image() {
  local tag="$1" with_bash="$2"
  if podman image exists "$tag"; then return; fi
  say "building $tag"
  local root
  root="$(mktemp -d)"
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,tmp,root,etc,proc,sys,dev,workspace}
  chmod 1777 "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
  echo 'root:x:0:' >"$root/etc/group"
  if [ "$with_bash" = yes ]; then
    rm -f "$root/bin/bash"
    cp "$(command -v bash)" "$root/bin/bash"
    for lib in $(ldd "$(command -v bash)" | grep -o '/[^ ]*'); do
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    done
  fi
  tar -C "$root" -cf "$root.tar" .
  podman import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/sh"]' "$root.tar" "$tag" >/dev/null
  rm -rf "$root" "$root.tar"
}
build_image localhost/pulse-test:busybox no
build_image localhost/pulse-test:bash yes

echo "export CONTAINERS_CONF='$CONF'"
echo "export PULSE_TEST_CONTAINER_ENGINE='unix://$SOCK'"
