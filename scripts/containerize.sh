#!/usr/bin/env bash
# Build the container image of a Bento with `bentoml containerize`: Docker where a daemon
# answers, else podman (set up by scripts/container-setup.sh). Usage: containerize.sh BENTO_TAG
# Writes build/container.env (ENGINE=..., IMAGE=...) for `make test-container`.
set -euo pipefail
cd "$(dirname "$0")/.."
bento=${1:?usage: containerize.sh BENTO_TAG}

engine=$(scripts/container-setup.sh)
export CONTAINERS_CONF="$PWD/scripts/containers.conf"  # read by podman only
image=$bento  # the image is tagged like the Bento: name:version
start=$(date +%s)
# BentoML renders a dockerfile_template in a copy of the Bento under $TMPDIR, then refuses
# it as "outside of current working directory" (bentoml/_internal/container/generate.py,
# generate_containerfile: resolve_user_filepath with secure=True). A TMPDIR under the
# working directory passes; tests/deploy/test_container_template.py notices a fix.
export TMPDIR="$PWD/build/tmp"
mkdir -p "$TMPDIR"
bentoml containerize "$bento" --backend "$engine" --image-tag "$image"
echo "built $image with $engine in $(($(date +%s) - start)) s;" \
    "size $("$engine" image inspect --format '{{.Size}}' "$image" | numfmt --to=si --round=nearest)B"
mkdir -p build
printf 'ENGINE=%s\nIMAGE=%s\n' "$engine" "$image" >build/container.env
