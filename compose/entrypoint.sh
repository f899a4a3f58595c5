#!/bin/sh
# Entrypoint of the pinmesh image.
#
# `daemon` (the default command):
#   1. On the first start, `pinmesh init` writes $PINMESH_PATH/config.json and identity.key into the
#      volume, taking every PINMESH_* setting from the environment (PINMESH_CLUSTER_SECRET above all).
#      Each container thus makes its own peer identity once and keeps it; none is baked into the image.
#   2. With BOOTSTRAP_FROM=<service>, it asks that peer's admin API for its peer id
#      (`pinmesh --host /dns4/<service>/tcp/9094 id --json`, retried for up to 2 minutes) and starts
#      with PINMESH_NET_BOOTSTRAP=/dns4/<service>/tcp/9096/p2p/<id>. Set PINMESH_CREDENTIALS if that
#      admin API requires credentials. Peers met once are remembered in peers.json across restarts.
# Any other command runs as `pinmesh <command>` (e.g. `docker run … pinmesh-image peers ls`).
set -eu

if [ "${1:-daemon}" != "daemon" ]; then
  exec pinmesh "$@"
fi

if [ ! -f "$PINMESH_PATH/config.json" ]; then
  pinmesh init
fi

if [ -n "${BOOTSTRAP_FROM:-}" ]; then
  tries=0
  until id=$(pinmesh --host "/dns4/$BOOTSTRAP_FROM/tcp/9094" id --json 2>/dev/null | node -p 'JSON.parse(require("fs").readFileSync(0, "utf8")).id' 2>/dev/null); do
    tries=$((tries + 1))
    if [ "$tries" -ge 120 ]; then
      echo "pinmesh-entrypoint: no answer from $BOOTSTRAP_FROM's admin API (/dns4/$BOOTSTRAP_FROM/tcp/9094) after 2 minutes" >&2
      exit 1
    fi
    sleep 1
  done
  export PINMESH_NET_BOOTSTRAP="/dns4/$BOOTSTRAP_FROM/tcp/9096/p2p/$id"
  echo "pinmesh-entrypoint: bootstrapping to $PINMESH_NET_BOOTSTRAP"
fi

exec pinmesh "$@"
