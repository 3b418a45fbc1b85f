#!/bin/sh
# Debian packages the project's own tests use on this machine (idempotent, quiet when all is there):
#   nginx-light  the NPM stand-in's selftests drive nginx (installed without starting its service)
#   chromium     selftests/test_report_browser.py renders report.html headless, as a reader sees it
set -eu
missing=""
command -v nginx >/dev/null 2>&1 || missing="$missing nginx-light"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
[ -z "$missing" ] && exit 0
echo "ensure-host-packages: installing$missing"
if [ ! -e /usr/sbin/policy-rc.d ]; then  # keep apt from starting the services
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
# shellcheck disable=SC2086  # $missing is a list of package names
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
