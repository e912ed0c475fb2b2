#!/usr/bin/env bash
# Prepare this machine for `make container` when no Docker daemon answers: install podman
# (as root, from Debian) and, since no container registry is reachable here, build a local
# stand-in for the Bento's base image python:3.11-slim from Debian bookworm (Python 3.11).
# Idempotent: installs and imports only what is missing. Prints the backend to use.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE=docker.io/library/python:3.11-slim
ROOTFS=build/base-rootfs

if docker info >/dev/null 2>&1; then
    echo docker  # a daemon answers: it pulls the real base image itself
    exit 0
fi

export CONTAINERS_CONF="$PWD/scripts/containers.conf"
missing=()
for tool in podman buildah runc debootstrap; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    echo "installing ${missing[*]}" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman buildah runc debootstrap >&2
fi

if ! podman image exists "$BASE_IMAGE"; then
    echo "building a stand-in for $BASE_IMAGE with debootstrap" >&2
    rm -rf "$ROOTFS"
    mkdir -p build
    debootstrap --variant=minbase \
        --include=python3,python3-venv,python3-pip,ca-certificates bookworm "$ROOTFS" >&2
    rm -f "$ROOTFS"/usr/lib/python3.11/EXTERNALLY-MANAGED
    ln -sf /usr/bin/python3 "$ROOTFS/usr/local/bin/python"
    ln -sf /usr/bin/python3 "$ROOTFS/usr/local/bin/python3"
    ln -sf /usr/bin/pip3 "$ROOTFS/usr/local/bin/pip"
    ln -sf /usr/bin/pip3 "$ROOTFS/usr/local/bin/pip3"
    # This machine reaches PyPI through a proxy with its own certificate authority.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$ROOTFS/usr/local/share/ca-certificates/"
        chroot "$ROOTFS" update-ca-certificates >&2
    fi
    tar --numeric-owner -C "$ROOTFS" -cf build/base.tar .
    podman import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
        --change 'CMD ["python3"]' \
        build/base.tar "$BASE_IMAGE" >&2
    rm -rf "$ROOTFS" build/base.tar
fi
echo podman
