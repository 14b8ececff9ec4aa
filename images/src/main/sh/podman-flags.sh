#!/bin/bash
# Prints, one per line, the flags podman needs on this machine (used by build-images.sh and the image tests):
#   podman-flags.sh global   flags before the subcommand: runc where the cgroup hierarchy is not pure v2 (crun
#                            refuses hybrid mode)
#   podman-flags.sh run      flags of `podman run` and `podman build`: explicit rlimits no higher than this shell's
#                            hard limits (podman's defaults cannot be set without CAP_SYS_RESOURCE)
set -euo pipefail
case "${1:-}" in
  global) ;;
  run) ;;
  *) echo "usage: podman-flags.sh global|run" >&2; exit 2 ;;
esac
if [ "$1" = global ]; then
  if [ ! -f /sys/fs/cgroup/cgroup.controllers ] && command -v runc >/dev/null 2>&1; then
    echo "--runtime=runc"
  fi
  exit 0
fi
nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] && nofile=1048576
nproc=$(ulimit -Hu)
# nproc above ~40k was refused on our machines even under a higher hard limit.
if [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; then nproc=32768; fi
echo "--ulimit=nofile=$nofile:$nofile"
echo "--ulimit=nproc=$nproc:$nproc"
