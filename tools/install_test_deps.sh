#!/usr/bin/env bash
# System packages some tests use (real peers): PostgreSQL (DuckLake catalogs), sngrep/sipp
# (HEP fixtures), btrfs-progs (compression), openssl (TLS). Installed when this machine can
# (root with apt); otherwise those tests skip and say why. Run by `make test`.
set -u
need=()
command -v openssl >/dev/null || need+=(openssl)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v mkfs.btrfs >/dev/null || need+=(btrfs-progs)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "install_test_deps: not root or no apt-get; tests needing ${need[*]} will skip" >&2
  exit 0
fi
echo "install_test_deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq "${need[@]}" >/dev/null 2>&1; then
  apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 \
    || echo "install_test_deps: could not install ${need[*]}; those tests will skip" >&2
fi
exit 0
