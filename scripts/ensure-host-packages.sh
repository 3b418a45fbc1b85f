#!/bin/sh
# Debian packages the project's own tests use on this machine (idempotent): nginx, which the NPM stand-in
# drives in its selftests. Installed without starting its service: the tests run their own nginx.
set -eu
command -v nginx >/dev/null 2>&1 && exit 0
echo "ensure-host-packages: installing nginx-light"
if [ ! -e /usr/sbin/policy-rc.d ]; then  # keep apt from starting the service
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light >/dev/null
