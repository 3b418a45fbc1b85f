#!/bin/sh
# Make sure a Docker engine answers here (idempotent): install docker.io, debootstrap and iptables if
# missing, start dockerd in the background (no systemd) if `docker info` fails, wait up to 60 s.
set -eu
missing=""
command -v dockerd >/dev/null 2>&1 || missing="$missing docker.io"
command -v debootstrap >/dev/null 2>&1 || missing="$missing debootstrap"
command -v iptables >/dev/null 2>&1 || missing="$missing iptables"
if [ -n "$missing" ]; then
    echo "ensure-docker: installing$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
if docker info >/dev/null 2>&1; then
    exit 0
fi
echo "ensure-docker: starting dockerd (log: /var/log/dockerd.log)"
nohup dockerd >>/var/log/dockerd.log 2>&1 &
i=0
while [ $i -lt 60 ]; do
    if docker info >/dev/null 2>&1; then
        echo "ensure-docker: the engine answers"
        exit 0
    fi
    sleep 1
    i=$((i + 1))
done
echo "ensure-docker: dockerd did not answer within 60 s; see /var/log/dockerd.log" >&2
exit 1
