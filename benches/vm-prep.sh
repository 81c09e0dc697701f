#!/usr/bin/env bash
# Shows, and on request turns off, virtio-balloon *free page reporting* in a VM guest,
# then pre-touches memory, so that page-cache figures are not skewed by the host.
#
# Why: with free page reporting (virtio feature VIRTIO_BALLOON_F_REPORTING, bit 5) the
# guest hands freed memory back to the host about 2 s after it is freed, and the host
# backs it again only on the next touch. Every new page-cache page then costs a host
# fault: on our 2-vCPU KVM machines `dd if=/dev/zero of=new-file bs=1M count=1000` ran at
# 410-450 MB/s on such memory and at 5.1-5.6 GB/s on memory touched since (measured
# 2026-11-24, see benches/RESULTS.md). A broker writing a log is exactly that workload,
# so without this step produce figures depend on how long ago the memory was last used.
# A long-running broker with a full page cache reuses evicted pages and never sees it.
#
# Usage: benches/vm-prep.sh            # report only
#        sudo benches/vm-prep.sh off [GIB]  # unbind virtio_balloon, touch GIB (default 12) GiB
#        sudo benches/vm-prep.sh on     # bind it again
set -euo pipefail
DRV=/sys/bus/virtio/drivers/virtio_balloon
REPORTING_BIT=5

balloon_devices() {
  for dev in /sys/bus/virtio/devices/*; do
    [ "$(cat "$dev/device" 2>/dev/null)" = 0x0005 ] && basename "$dev"
  done
  return 0
}

status() {
  local found=0
  for dev in $(balloon_devices); do
    found=1
    local features bound=no
    features=$(cat "/sys/bus/virtio/devices/$dev/features")
    [ -e "$DRV/$dev" ] && bound=yes
    if [ "${features:$REPORTING_BIT:1}" = 1 ] && [ $bound = yes ]; then
      echo "$dev: virtio-balloon free page reporting is ON (driver bound): page-cache writes into freed memory pay a host fault per page"
      return 1
    fi
    echo "$dev: free page reporting off (feature bit ${features:$REPORTING_BIT:1}, driver bound: $bound)"
  done
  [ $found = 1 ] || echo "no virtio-balloon device: nothing to do"
  return 0
}

case ${1:-status} in
  status) status || true ;;
  off)
    for dev in $(balloon_devices); do
      [ -e "$DRV/$dev" ] && echo "$dev" >"$DRV/unbind" && echo "unbound $dev from virtio_balloon"
    done
    gib=${2:-12}
    echo "touching $gib GiB of memory (a tmpfs file, written and removed)..."
    dd if=/dev/zero of=/dev/shm/rill-vm-prep bs=1M count=$((gib * 1024)) status=none
    rm -f /dev/shm/rill-vm-prep
    status || true ;;
  on)
    for dev in $(balloon_devices); do
      [ -e "$DRV/$dev" ] || { echo "$dev" >"$DRV/bind" && echo "bound $dev to virtio_balloon"; }
    done
    status || true ;;
  *) echo "usage: $0 [status|off [GIB]|on]" >&2; exit 2 ;;
esac
