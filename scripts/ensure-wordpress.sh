#!/usr/bin/env bash
# Installs what the real-WordPress tests run on: Debian's wordpress package, MariaDB and PHP's
# command line. Idempotent: when everything is installed it only asks dpkg and exits at once.
# The packages' own services are never needed (the tests start a private MariaDB and PHP's
# built-in server on loopback), so they are kept from starting while installing.
set -euo pipefail

packages=(wordpress mariadb-server php-cli php-mysql php-curl)

missing=()
for pkg in "${packages[@]}"; do
    status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
    [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        exec sudo -n "$0" "$@"
    fi
    echo "ensure-wordpress: missing ${missing[*]}; run as root to install them" >&2
    exit 1
fi

# Keep the packages' services (apache2, mariadb) from starting: a policy that refuses every
# start, only when the machine has no policy of its own, removed again on the way out.
policy=/usr/sbin/policy-rc.d
own_policy=""
if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    own_policy=1
fi
cleanup() { [[ -n "$own_policy" ]] && rm -f "$policy"; return 0; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
# Other installs on the same machine may hold dpkg's lock: wait for it rather than fail.
apt_opts=(-o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0 -q)
echo "ensure-wordpress: installing ${missing[*]}" >&2
if ! apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}" >&2; then
    apt-get "${apt_opts[@]}" update >&2
    apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}" >&2
fi
