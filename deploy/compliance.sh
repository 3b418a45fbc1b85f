#!/bin/sh
# The nightly compliance run, shared by the CI workflow (.github/workflows/compliance.yml) and the systemd
# service (deploy/systemd/). Run from anywhere; it works in the checkout it lives in.
#
#   deploy/compliance.sh run           every phase against the inventory; exits with the suite's exit code
#   deploy/compliance.sh heartbeat RC  tells Uptime Kuma's push monitor: up for RC 0 or 7, down otherwise
#
# Environment, all optional (a relative path is relative to the checkout; any absolute path works):
#   HOMELAB_INVENTORY     the inventory (default: inventory.yaml)
#   HOMELAB_ENV_FILE      the .env with the secrets' values (default: the inventory's settings.env_file)
#   HOMELAB_REPORT_DIR    report.html, results.json, history/, compliance.prom, junit.xml (default: reports);
#                         keep it from run to run, or "since the last run" has nothing to compare with
#   HOMELAB_TEXTFILE_DIR  node-exporter's textfile directory: compliance.prom is copied there as
#                         homelab-compliance.prom (atomically: the collector never reads half a file)
#   UPTIME_KUMA_PUSH_URL  the push monitor's URL, https://kuma.example.com/api/push/TOKEN (any query is dropped)
# Exit codes (docs/audit.md): 0 all passed, 1 failures, 6 a host unreachable, 7 only waived or skipped;
# pytest's 2 (interrupted), 3 (internal error), 4 (usage error: inventory, waivers), 5 (nothing collected).
set -u
cd "$(dirname "$0")/.."

meaning() {
    case "$1" in
        0) echo "all checks passed" ;;
        1) echo "checks failed" ;;
        6) echo "a host is unreachable" ;;
        7) echo "passed, with waived or skipped checks" ;;
        4) echo "usage error: the inventory or waivers file" ;;
        *) echo "the run did not complete" ;;
    esac
}

run() {
    reports="${HOMELAB_REPORT_DIR:-reports}"
    rc=0
    # The joined form (--inventory=PATH): pytest picks its rootdir before the plugin's options exist and would take
    # a separate PATH for a test path; one outside the checkout would move the rootdir away from pyproject.toml.
    .venv/bin/pytest "--inventory=${HOMELAB_INVENTORY:-inventory.yaml}" "--report-dir=$reports" \
        -p no:cacheprovider || rc=$?
    if [ -n "${HOMELAB_TEXTFILE_DIR:-}" ] && [ -f "$reports/compliance.prom" ]; then
        cp "$reports/compliance.prom" "$HOMELAB_TEXTFILE_DIR/.homelab-compliance.prom.partial" \
            && mv -f "$HOMELAB_TEXTFILE_DIR/.homelab-compliance.prom.partial" \
                     "$HOMELAB_TEXTFILE_DIR/homelab-compliance.prom" \
            || echo "compliance: could not publish the metrics to $HOMELAB_TEXTFILE_DIR" >&2
    fi
    echo "compliance: exit $rc: $(meaning "$rc")"
    return "$rc"
}

heartbeat() {
    rc="${1:-unknown}"
    if [ -z "${UPTIME_KUMA_PUSH_URL:-}" ]; then
        echo "compliance: UPTIME_KUMA_PUSH_URL is not set: no heartbeat sent"
        return 0
    fi
    case "$rc" in 0 | 7) status=up ;; *) status=down ;; esac
    # A failed push is reported, never fatal: the missing heartbeat is what raises Uptime Kuma's alert.
    if curl -fsS --max-time 10 --retry 2 --get --data-urlencode "status=$status" \
            --data-urlencode "msg=exit $rc: $(meaning "$rc")" --data-urlencode "ping=" \
            -o /dev/null "${UPTIME_KUMA_PUSH_URL%%\?*}"; then
        echo "compliance: heartbeat sent ($status)"
    else
        echo "compliance: the heartbeat to Uptime Kuma failed" >&2
    fi
}

case "${1:-}" in
    run) run ;;
    heartbeat) heartbeat "${2:-}" ;;
    *) echo "usage: $0 run | heartbeat EXIT_CODE" >&2; exit 2 ;;
esac
