"""Phase 3: what a GPU worker's WSL2 needs before its stacks: Docker with CDI on, and NVIDIA's CDI spec.

On WSL2 the NVIDIA container toolkit writes one CDI device, `nvidia.com/gpu=all` (upstream
NVIDIA/nvidia-container-toolkit, pkg/nvcdi in WSL mode); the gpu-worker stack requests exactly that device.
The step only checks: installing a GPU toolkit is the operator's call, so a missing piece is a failure that
says exactly what to install and run.
"""

from __future__ import annotations

from bootstrap.remote import Remote
from bootstrap.steps import Step, StepFailed

CDI_DIRS = "/etc/cdi /var/run/cdi"
DEVICE = "nvidia.com/gpu=all"
CHECK = (f"echo cdi-dirs: $(docker info --format '{{{{json .CDISpecDirs}}}}' 2>/dev/null); "
         f"echo spec: $(grep -ls 'kind: *nvidia.com/gpu' $(find {CDI_DIRS} -name '*.yaml' -o -name '*.json' "
         "2>/dev/null) /dev/null | head -n 1)")
INSTALL = ("in WSL2 (not Windows): install the NVIDIA container toolkit (apt repository libnvidia-container, "
           "`sudo apt-get install -y nvidia-container-toolkit`), generate the CDI spec with "
           "`sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml`")
ENABLE_CDI = ('turn CDI on in /etc/docker/daemon.json (`"features": {"cdi": true}`; Docker 25+), then restart Docker '
              "(`sudo systemctl restart docker` or `sudo service docker restart`)")


def problems(remote: Remote) -> list[str]:
    found = dict(line.split(":", 1) for line in remote.run(CHECK, what="docker info").splitlines() if ":" in line)
    missing = []
    if found.get("cdi-dirs", "").strip() in ("", "null", "[]"):
        missing.append(f"Docker has CDI off: {ENABLE_CDI}")
    if not found.get("spec", "").strip():
        missing.append(f"no NVIDIA CDI spec in {CDI_DIRS} (device {DEVICE}): {INSTALL}")
    return missing


def steps(remote: Remote) -> list[Step]:
    def apply() -> None:
        raise StepFailed(f"{remote.host.name} cannot give containers its GPU: " + "; ".join(problems(remote)))

    return [Step(f"GPU for containers: CDI on, NVIDIA CDI spec ({DEVICE})", remote.host.name,
                 lambda: not problems(remote), apply)]
