#!/usr/bin/env bash
# Inside WSL2 on a GPU worker (a Windows gaming PC), once, as root:
#
#   sudo bash wsl2-setup.sh --authorized-key "ssh-ed25519 AAAA... operator" --lan 198.51.100.0/24 [--vpn CIDR] [--dry-run]
#
# What bootstrap phase 3 needs and does not install itself (docs/gpu-workers.md):
#   - systemd in the distribution (/etc/wsl.conf: [boot] systemd=true), so Docker and sshd start with WSL2;
#   - Docker Engine from the distribution (docker.io and compose v2), or from Docker's own apt repository where
#     the distribution's engine is too old for CDI (Debian 12 ships 20.10; CDI needs Docker 25);
#   - /etc/docker/daemon.json with CDI on and no "hosts": dockerd listens on its unix socket only;
#   - the NVIDIA container toolkit (NVIDIA's apt repository) and the CDI spec /etc/cdi/nvidia.yaml, whose single
#     device nvidia.com/gpu=all the gpu-worker stack requests. The driver is the Windows one: never install a
#     Linux NVIDIA driver inside WSL2;
#   - openssh-server with the operator's key (no passwords), passwordless sudo for that user (bootstrap runs
#     `sudo -n`), and ufw with SSH from the LAN (bootstrap phase 3 writes the full rule set later).
#
# Idempotent: a second run changes nothing and says so. --dry-run only reads and prints what it would do.
# The Windows side (WSL2 itself, .wslconfig, the Windows firewall) is setup-gpu-worker.ps1, beside this file.

set -eu
set -o pipefail

DRY_RUN=0
LOGIN_USER="${SUDO_USER:-}"
KEYS=()
LAN=()
VPN=()
CHANGED=()
TODO=()
RESTART_DOCKER=0
RESTART_SSH=0

KEYRING=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg
NVIDIA_LIST=/etc/apt/sources.list.d/nvidia-container-toolkit.list
NVIDIA_REPO=https://nvidia.github.io/libnvidia-container
DOCKER_KEYRING=/etc/apt/keyrings/docker.asc
DOCKER_LIST=/etc/apt/sources.list.d/docker.list
DAEMON_JSON=/etc/docker/daemon.json
CDI_SPEC=/etc/cdi/nvidia.yaml
SSHD_DROPIN=/etc/ssh/sshd_config.d/10-homelab.conf
MIN_DOCKER=25   # the first Docker Engine with CDI devices ("features": {"cdi": true})

usage() {
    cat <<'EOF'
usage: sudo bash wsl2-setup.sh [options]

  --authorized-key KEY       the operator's public key (the inventory's ssh.key, .pub); repeatable
  --authorized-key-file F    read the public key(s) from a file
  --user NAME                the login user bootstrap uses (inventory ssh.user); default: the sudo caller
  --lan CIDR                 the LAN (inventory networks.lan); SSH is allowed from it; repeatable
  --vpn CIDR                 the VPN (inventory networks.vpn); SSH is allowed from it too; repeatable
  --dry-run                  change nothing; print what would be done
  -h, --help                 this text
EOF
}

die() { echo "error: $*" >&2; exit 1; }
# refuse: a state this script will not change by itself; a dry run says so and goes on reading.
refuse() { if [ "$DRY_RUN" = 1 ]; then warn "$*"; else die "$*"; fi; }
ok() { echo "  ok       $*"; }
note() { echo "  note     $*"; }
warn() { echo "  WARNING  $*" >&2; }
changed() { CHANGED+=("$1"); echo "  changed  $1"; }
todo() { TODO+=("$1"); }

# act DESCRIPTION COMMAND...: run the command (or, in a dry run, say that it would), and record the change.
act() {
    local what=$1
    shift
    if [ "$DRY_RUN" = 1 ]; then
        echo "  would    $what"
        return 0
    fi
    "$@"
    changed "$what"
}

while [ $# -gt 0 ]; do
    case $1 in
        --authorized-key) [ $# -ge 2 ] || die "$1 needs a value"; KEYS+=("$2"); shift 2 ;;
        --authorized-key-file)
            [ $# -ge 2 ] || die "$1 needs a value"
            [ -r "$2" ] || die "cannot read $2"
            while IFS= read -r line; do
                case $line in ''|'#'*) ;; *) KEYS+=("$line") ;; esac
            done < "$2"
            shift 2 ;;
        --user) [ $# -ge 2 ] || die "$1 needs a value"; LOGIN_USER=$2; shift 2 ;;
        --lan) [ $# -ge 2 ] || die "$1 needs a value"; LAN+=("$2"); shift 2 ;;
        --vpn) [ $# -ge 2 ] || die "$1 needs a value"; VPN+=("$2"); shift 2 ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
done

for cidr in ${LAN[@]+"${LAN[@]}"} ${VPN[@]+"${VPN[@]}"}; do
    echo "$cidr" | grep -Eq '^([0-9]{1,3}\.){3}[0-9]{1,3}/[0-9]{1,2}$' || die "not an IPv4 CIDR: $cidr"
done
for key in ${KEYS[@]+"${KEYS[@]}"}; do
    case $key in
        ssh-ed25519\ *|ssh-rsa\ *|ecdsa-sha2-*\ *|sk-ssh-ed25519@openssh.com\ *) ;;
        *) die "not an OpenSSH public key: ${key:0:40}..." ;;
    esac
done

# -- where we are ---------------------------------------------------------------------------------------------

grep -qi microsoft /proc/sys/kernel/osrelease 2>/dev/null \
    || die "this is not WSL2 (no 'microsoft' in /proc/sys/kernel/osrelease); on a Linux host bootstrap installs Docker itself"
if [ "$(id -u)" -ne 0 ]; then
    [ "$DRY_RUN" = 1 ] || die "run as root: sudo bash $0 ..."
    note "not root: a dry run reads what it can"
fi
# shellcheck disable=SC1091  # the distribution's own file
. /etc/os-release
case ${ID:-} in
    debian|ubuntu) ok "distribution: ${PRETTY_NAME:-$ID} (inventory os: $ID)" ;;
    *) die "distribution ${ID:-unknown}: this script knows Debian and Ubuntu (wsl --install -d Debian|Ubuntu)" ;;
esac
if [ -z "$LOGIN_USER" ] || [ "$LOGIN_USER" = root ]; then
    die "which user does bootstrap log in as? run through sudo from that user, or pass --user NAME"
fi
getent passwd "$LOGIN_USER" >/dev/null || die "no user $LOGIN_USER (create it with \`wsl -d DISTRO\` from Windows first)"
SYSTEMD=0
[ -d /run/systemd/system ] && SYSTEMD=1

export DEBIAN_FRONTEND=noninteractive

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
candidate() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}' | grep -v '(none)' || true; }
# The major version in a Debian version string: 2:26.1.5+dfsg1-9 -> 26.
major() { echo "$1" | sed -E 's/^[0-9]+://; s/^([0-9]+).*/\1/'; }

apt_install() {
    local missing=()
    for pkg in "$@"; do installed "$pkg" || missing+=("$pkg"); done
    if [ ${#missing[@]} -eq 0 ]; then
        ok "installed: $*"
        return 0
    fi
    act "apt-get install ${missing[*]}" apt-get install -y -q "${missing[@]}"
}

if [ "$DRY_RUN" = 0 ]; then
    apt-get update -q >/dev/null
fi

# -- systemd --------------------------------------------------------------------------------------------------

# /etc/wsl.conf is an INI file: set systemd=true in [boot], keep everything else.
wsl_conf_with_systemd() {
    awk '
        /^[[:space:]]*\[/ {
            if (inboot && !done) { print "systemd=true"; done = 1 }
            inboot = ($0 ~ /^[[:space:]]*\[boot\][[:space:]]*$/)
            print; next
        }
        inboot && /^[[:space:]]*systemd[[:space:]]*=/ { if (!done) print "systemd=true"; done = 1; next }
        { print }
        END {
            if (inboot && !done) { print "systemd=true"; done = 1 }
            if (!done) { print ""; print "[boot]"; print "systemd=true" }
        }
    ' /etc/wsl.conf 2>/dev/null || printf '[boot]\nsystemd=true\n'
}

WSL_CONF=$(wsl_conf_with_systemd)
write_wsl_conf() { printf '%s\n' "$WSL_CONF" > /etc/wsl.conf; }

if [ -f /etc/wsl.conf ] && [ "$(cat /etc/wsl.conf)" = "$WSL_CONF" ]; then
    ok "/etc/wsl.conf: [boot] systemd=true"
else
    act "/etc/wsl.conf: [boot] systemd=true (other settings kept)" write_wsl_conf
fi
if [ "$SYSTEMD" = 0 ]; then
    todo "systemd is not running yet: in Windows run \`wsl --shutdown\`, start WSL2 again, and run this script once more"
fi

start_service() {
    if [ "$SYSTEMD" = 1 ]; then
        systemctl enable --now "$1" >/dev/null 2>&1 || systemctl restart "$1"
    else
        service "$1" start
    fi
}

restart_service() {
    if [ "$SYSTEMD" = 1 ]; then systemctl restart "$1"; else service "$1" restart; fi
}

wait_for_docker() {
    local waited=0
    while [ "$waited" -lt 30 ]; do
        docker info >/dev/null 2>&1 && return 0
        sleep 1
        waited=$((waited + 1))
    done
    die "Docker did not start within 30 s: \`journalctl -u docker\` (or /var/log/docker.log without systemd)"
}

# -- base packages --------------------------------------------------------------------------------------------

apt_install ca-certificates curl gnupg jq openssh-server sudo ufw

# -- Docker Engine --------------------------------------------------------------------------------------------

docker_major() { command -v dockerd >/dev/null && major "$(dockerd --version | sed -E 's/^Docker version ([^ ,]+).*/\1/')"; }
compose_v2() { docker compose version --short 2>/dev/null | grep -Eq '^v?2\.'; }

add_docker_repository() {
    install -d -m 0755 /etc/apt/keyrings
    curl -fsSL "https://download.docker.com/linux/$ID/gpg" -o "$DOCKER_KEYRING"
    chmod a+r "$DOCKER_KEYRING"
    echo "deb [arch=$(dpkg --print-architecture) signed-by=$DOCKER_KEYRING] https://download.docker.com/linux/$ID ${VERSION_CODENAME:?} stable" \
        > "$DOCKER_LIST"
    apt-get update -q >/dev/null
}

# Docker Desktop's WSL integration puts its own docker CLI into the distribution: this plan runs Docker Engine here.
if command -v docker >/dev/null && readlink -f "$(command -v docker)" | grep -q docker-desktop; then
    refuse "Docker Desktop's WSL integration is on for this distribution: turn it off (Docker Desktop > Settings > Resources > WSL integration), then run again"
fi

found=$(docker_major || true)
if [ -n "$found" ] && [ "$found" -ge "$MIN_DOCKER" ] && compose_v2; then
    ok "Docker Engine $(dockerd --version | sed -E 's/^Docker version ([^ ,]+).*/\1/') and compose $(docker compose version --short)"
elif [ -n "$found" ] && [ "$found" -lt "$MIN_DOCKER" ]; then
    refuse "Docker Engine $found is installed, and CDI needs $MIN_DOCKER or later: remove it (\`apt-get remove docker.io\`) and run again"
else
    engine=$(candidate docker.io)
    if [ -n "$engine" ] && [ "$(major "$engine")" -ge "$MIN_DOCKER" ]; then
        compose=""
        for pkg in docker-compose-v2 docker-compose-plugin docker-compose; do
            version=$(candidate "$pkg")
            if [ -n "$version" ] && [ "$(major "$version")" -ge 2 ]; then compose=$pkg; break; fi
        done
        [ -n "$compose" ] || die "$PRETTY_NAME has docker.io $engine but no compose v2 package"
        apt_install docker.io "$compose"
    else
        note "$PRETTY_NAME's docker.io is ${engine:-missing} (CDI needs Docker $MIN_DOCKER): Docker's own apt repository instead"
        if [ ! -f "$DOCKER_LIST" ]; then
            act "apt repository download.docker.com ($DOCKER_LIST)" add_docker_repository
        fi
        apt_install docker-ce docker-ce-cli containerd.io docker-compose-plugin
    fi
fi

# -- daemon.json: CDI on, no TCP ------------------------------------------------------------------------------

write_daemon_json() {
    local current new
    install -d -m 0755 /etc/docker
    current=$(cat "$DAEMON_JSON" 2>/dev/null || echo '{}')
    new=$(echo "$current" | jq '.features.cdi = true | del(.hosts)')
    printf '%s\n' "$new" > "$DAEMON_JSON.homelab.tmp"
    mv "$DAEMON_JSON.homelab.tmp" "$DAEMON_JSON"
    RESTART_DOCKER=1
}

if ! command -v jq >/dev/null; then
    echo "  would    $DAEMON_JSON: \"features\": {\"cdi\": true}, no \"hosts\" (after installing jq)"
elif [ -f "$DAEMON_JSON" ] && ! jq -e . "$DAEMON_JSON" >/dev/null 2>&1; then
    refuse "$DAEMON_JSON is not valid JSON: fix it by hand, then run again"
elif [ -f "$DAEMON_JSON" ] && jq -e '.features.cdi == true and (has("hosts") | not)' "$DAEMON_JSON" >/dev/null; then
    ok "$DAEMON_JSON: CDI on, no \"hosts\" (the unix socket only)"
else
    act "$DAEMON_JSON: \"features\": {\"cdi\": true}, no \"hosts\"" write_daemon_json
fi
# A systemd drop-in can add a TCP listener to dockerd's command line: the WSL2 pitfall P3-DOCKER-001 looks for.
if grep -rqs 'tcp://' /etc/systemd/system/docker.service.d /etc/default/docker 2>/dev/null; then
    warn "a tcp:// listener is configured for dockerd in /etc/systemd/system/docker.service.d or /etc/default/docker: remove it (P3-DOCKER-001)"
fi

# -- NVIDIA container toolkit and the CDI spec ----------------------------------------------------------------

add_nvidia_repository() {
    curl -fsSL "$NVIDIA_REPO/gpgkey" | gpg --batch --yes --dearmor -o "$KEYRING"
    echo "deb [signed-by=$KEYRING] $NVIDIA_REPO/stable/deb/$(dpkg --print-architecture) /" > "$NVIDIA_LIST"
    apt-get update -q >/dev/null
}

if [ -f "$NVIDIA_LIST" ] && [ -s "$KEYRING" ]; then
    ok "apt repository $NVIDIA_REPO ($NVIDIA_LIST)"
else
    act "apt repository $NVIDIA_REPO ($NVIDIA_LIST)" add_nvidia_repository
fi
apt_install nvidia-container-toolkit

# A Linux NVIDIA driver inside WSL2 replaces the libraries the Windows driver maps in, and breaks CUDA.
linux_driver=$(dpkg-query -W -f='${Package} ${Status}\n' 'nvidia-driver*' 'cuda-drivers*' 'nvidia-kernel-*' 2>/dev/null \
    | awk '/install ok installed/ {print $1}' | tr '\n' ' ' || true)
if [ -n "$linux_driver" ]; then
    warn "Linux NVIDIA driver packages are installed ($linux_driver): remove them (\`apt-get purge $linux_driver\`); WSL2 uses the Windows driver only"
fi

SMI=/usr/lib/wsl/lib/nvidia-smi
NO_GPU="no GPU in WSL2 ($SMI -L fails): install or update the NVIDIA driver on Windows (not in WSL2), then \`wsl --shutdown\` and run again"
if [ -x "$SMI" ] && gpus=$("$SMI" -L 2>/dev/null) && [ -n "$gpus" ]; then
    ok "the Windows NVIDIA driver is mapped into WSL2: ${gpus%%$'\n'*}"
else
    refuse "$NO_GPU"
fi

write_cdi_spec() {
    install -d -m 0755 /etc/cdi
    mv "$1" "$CDI_SPEC"
    chmod 0644 "$CDI_SPEC"
}

if [ "$DRY_RUN" = 1 ] && ! command -v nvidia-ctk >/dev/null; then
    echo "  would    nvidia-ctk cdi generate --output=$CDI_SPEC"
else
    # Generated every run and replaced only when it differs: a Windows driver update moves the driver's files
    # (/usr/lib/wsl/drivers/nv*.inf_amd64_*), and a stale spec then fails every GPU container.
    spec=$(mktemp)
    if ! log=$(nvidia-ctk cdi generate --output="$spec" 2>&1); then
        echo "$log" >&2
        rm -f "$spec"
        die "nvidia-ctk cdi generate failed (above): is the Windows NVIDIA driver current?"
    fi
    if cmp -s "$spec" "$CDI_SPEC"; then
        rm -f "$spec"
        ok "$CDI_SPEC is current"
    else
        if [ "$DRY_RUN" = 1 ]; then rm -f "$spec"; fi
        act "nvidia-ctk cdi generate --output=$CDI_SPEC" write_cdi_spec "$spec"
        RESTART_DOCKER=1
    fi
    if [ "$DRY_RUN" = 0 ]; then
        nvidia-ctk cdi list 2>/dev/null | grep -qx 'nvidia.com/gpu=all' \
            || die "the CDI spec has no device nvidia.com/gpu=all (\`nvidia-ctk cdi list\`); see docs/gpu-workers.md"
        ok "CDI device nvidia.com/gpu=all"
    fi
fi

if [ "$DRY_RUN" = 0 ]; then
    if [ "$RESTART_DOCKER" = 1 ]; then
        restart_service docker
        changed "Docker restarted (daemon.json or CDI spec changed)"
    else
        start_service docker
    fi
    wait_for_docker
    docker info --format '{{json .CDISpecDirs}}' 2>/dev/null | grep -q '/' \
        || die "Docker does not report CDI spec directories (\`docker info\`): is CDI on in $DAEMON_JSON?"
    ok "Docker runs with CDI ($(docker info --format '{{json .CDISpecDirs}}'))"
fi

# -- SSH: the operator's key, no passwords, passwordless sudo -------------------------------------------------

write_sshd_dropin() {
    cat > "$SSHD_DROPIN" <<'EOF'
# Written by bootstrap/windows/wsl2-setup.sh: keys only, no root login (bootstrap logs in as its user).
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
EOF
    sshd -t || die "sshd -t refuses the configuration"
    RESTART_SSH=1
}

DROPIN_WANTED=$'PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin no'
if [ -f "$SSHD_DROPIN" ] && [ "$(grep -v '^#' "$SSHD_DROPIN")" = "$DROPIN_WANTED" ]; then
    ok "$SSHD_DROPIN: keys only, no root login"
else
    act "$SSHD_DROPIN: keys only, no root login" write_sshd_dropin
fi

home=$(getent passwd "$LOGIN_USER" | cut -d: -f6)
group=$(id -gn "$LOGIN_USER")
authorized="$home/.ssh/authorized_keys"

add_key() {
    install -d -m 0700 -o "$LOGIN_USER" -g "$group" "$home/.ssh"
    printf '%s\n' "$1" >> "$authorized"
    chown "$LOGIN_USER:$group" "$authorized"
    chmod 0600 "$authorized"
}

if [ ${#KEYS[@]} -eq 0 ]; then
    if [ -s "$authorized" ]; then
        ok "$authorized exists (no --authorized-key given)"
    else
        todo "no SSH key for $LOGIN_USER: run again with --authorized-key \"\$(cat ~/.ssh/homelab_ed25519.pub)\" (the inventory's ssh.key)"
    fi
fi
for key in ${KEYS[@]+"${KEYS[@]}"}; do
    if [ -f "$authorized" ] && grep -qxF "$key" "$authorized"; then
        ok "key ${key:0:30}... in $authorized"
    else
        act "key ${key:0:30}... added to $authorized" add_key "$key"
    fi
done

SUDOERS="/etc/sudoers.d/homelab-$LOGIN_USER"
write_sudoers() {
    printf '# Written by bootstrap/windows/wsl2-setup.sh: bootstrap runs "sudo -n".\n%s ALL=(ALL) NOPASSWD:ALL\n' \
        "$LOGIN_USER" > "$SUDOERS.tmp"
    chmod 0440 "$SUDOERS.tmp"
    visudo -cqf "$SUDOERS.tmp" || { rm -f "$SUDOERS.tmp"; die "visudo refuses $SUDOERS"; }
    mv "$SUDOERS.tmp" "$SUDOERS"
}
if [ -f "$SUDOERS" ] && grep -qx "$LOGIN_USER ALL=(ALL) NOPASSWD:ALL" "$SUDOERS"; then
    ok "$SUDOERS: passwordless sudo for $LOGIN_USER"
else
    act "$SUDOERS: passwordless sudo for $LOGIN_USER" write_sudoers
fi

if [ "$DRY_RUN" = 0 ]; then
    [ -s /etc/ssh/ssh_host_ed25519_key.pub ] || act "SSH host keys (ssh-keygen -A)" ssh-keygen -A
    if [ "$RESTART_SSH" = 1 ]; then
        restart_service ssh
    else
        start_service ssh
    fi
    ok "sshd runs"
fi

# -- ufw: SSH from the LAN (bootstrap phase 3 writes the rest) -------------------------------------------------

if [ ${#LAN[@]} -eq 0 ]; then
    note "ufw installed, not enabled (no --lan): bootstrap phase 3 enables it with the inventory's rules"
else
    status=$(ufw status verbose 2>/dev/null || true)
    added=$(ufw show added 2>/dev/null || true)
    for cidr in "${LAN[@]}" ${VPN[@]+"${VPN[@]}"}; do
        rule="ufw allow from $cidr to any port 22 proto tcp comment 'ssh'"
        if printf '%s\n' "$added" | grep -qxF "$rule"; then
            ok "$rule"
        else
            act "$rule" ufw allow from "$cidr" to any port 22 proto tcp comment ssh
        fi
    done
    if printf '%s\n' "$status" | grep -q 'Default: deny (incoming), allow (outgoing)'; then
        ok "ufw defaults: deny incoming, allow outgoing"
    else
        act "ufw default deny incoming" ufw default deny incoming
        act "ufw default allow outgoing" ufw default allow outgoing
    fi
    if printf '%s\n' "$status" | grep -q 'Status: active'; then
        ok "ufw active"
    else
        act "ufw enabled" ufw --force enable
    fi
fi

# -- summary --------------------------------------------------------------------------------------------------

echo
if [ "$DRY_RUN" = 1 ]; then
    echo "Dry run: nothing was changed."
elif [ ${#CHANGED[@]} -eq 0 ]; then
    echo "Nothing to do: this WSL2 was already set up."
else
    echo "Changed: ${#CHANGED[@]}"
fi
if [ ${#TODO[@]} -gt 0 ]; then
    echo "Left to do:"
    for item in "${TODO[@]}"; do echo "  - $item"; done
fi
if [ -s /etc/ssh/ssh_host_ed25519_key.pub ]; then
    echo
    echo "For inventory.yaml (check the address is this PC's LAN address; compare the key from the LAN with"
    echo "\`ssh-keyscan -t ed25519 ADDRESS\`):"
    echo "    os: $ID"
    echo "    ssh: {user: $LOGIN_USER, key: ~/.ssh/homelab_ed25519,"
    echo "          host_key: $(cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub)}"
    echo "    addresses seen here: $(hostname -I 2>/dev/null || echo unknown)"
fi
echo
echo "Check the GPU in a container: docker run --rm --device nvidia.com/gpu=all debian nvidia-smi -L"
