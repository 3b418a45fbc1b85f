"""Commands and files on one host of the inventory over the run's SSH connection, as root (`sudo -n` when the SSH
user is not root). Failures become StepFailed naming the host, the command and its error. `is_off`: whether an
on-demand host is switched off (phases 3 and 4 skip it, saying so)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from bootstrap.steps import StepFailed
from homelab.model.inventory import Host, Inventory
from homelab.model.secrets import Secrets
from homelab.transport.ssh import CommandResult, SSHError, SSHPool


@dataclass
class Remote:
    """What every step on a host needs: the inventory, its secrets, the SSH pool and the host."""

    inventory: Inventory
    secrets: Secrets
    pool: SSHPool
    host: Host

    @property
    def sudo(self) -> str:
        return "" if self.host.ssh.user == "root" else "sudo -n "

    def try_run(self, command: str, root: bool = True, timeout: float | None = None) -> CommandResult:
        """Run `command` (through `sh -c`, as root unless `root=False`); return the result, whatever it is."""
        wrapped = f"{self.sudo}sh -c {shlex.quote(command)}" if root and self.sudo else command
        return self.pool.run(self.host, wrapped, timeout=timeout)

    def run(self, command: str, root: bool = True, timeout: float | None = None, what: str = "") -> str:
        """Run `command`; raise StepFailed with its error output when it fails."""
        result = self.try_run(command, root, timeout)
        if not result.ok:
            detail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-3:]
            raise StepFailed(f"{what or command.split()[0]} on {self.host.name} exited {result.exit_status}: "
                             f"{' / '.join(detail) or 'no output'}")
        return result.stdout

    def put(self, files: dict[str, tuple[bytes, int]], directory: str) -> None:
        """Install `files` (name -> (content, mode)) into `directory`, owned by root, each atomically. A name may
        hold subfolders (`prometheus/prometheus.yml`): they are made as needed."""
        staging = self.run("umask 077 && mktemp -d", root=False, what="mktemp").strip()
        try:
            with self.pool.get(self.host).open_sftp() as sftp:
                for index, (content, _) in enumerate(files.values()):
                    with sftp.open(f"{staging}/{index}", "wb") as stream:
                        stream.chmod(0o600)
                        stream.write(content)
            installs = " && ".join(
                f"install -D -o root -g root -m {mode:o} {shlex.quote(f'{staging}/{index}')} "
                f"{shlex.quote(f'{directory}/{name}.new')} && mv -f {shlex.quote(f'{directory}/{name}.new')} "
                f"{shlex.quote(f'{directory}/{name}')}" for index, (name, (_, mode)) in enumerate(files.items()))
            self.run(f"mkdir -p {shlex.quote(directory)} && {installs}", what="install")
        finally:
            self.try_run(f"rm -rf {shlex.quote(staging)}", root=False)


def put_text(remote: Remote, path: str, text: str, mode: int = 0o644) -> None:
    directory, name = path.rsplit("/", 1)
    remote.put({name: (text.encode(), mode)}, directory)


def is_off(pool: SSHPool, host: Host) -> str | None:
    """Why an on-demand host cannot be reached now (it is off), or None when it answers."""
    try:
        pool.get(host)
    except SSHError as exc:
        if host.on_demand:
            return str(exc)
        raise
    return None
