"""Edge stacks, as agent 2.23.0 deploys them in standard Edge mode: agent edge/stack/stack.go (the stack table and
its worker), edge/client/portainer_edge_client.go (`GetEdgeStackConfig`, `SetEdgeStackStatus`), Portainer's
api/filesystem/serialize.go (`PersistDir`); the compose runs are agent_compose.py, the calls to Portainer
agent_edge.EdgeClient.

Each poll hands over its `stacks`; a new ID or another Version is fetched, written under EDGE_STACK_FILES_PATH/<id>
and acknowledged (3). The worker then validates, reports Deploying (8), runs `up -d` as
project `edge_<Name>`, reports DeploymentReceived (1), copies the folder to `<id>.success` and waits for the
containers: Running (7) or Error (2). A stack missing from a poll's list is taken down (9, then 4 once no container
is left). Nothing is pulled first and nothing is retried: PrePullImage, RetryDeploy and the rest are EE.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
import os
import shutil
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import agent_compose as compose
import agent_edge as edge

# portainer.EdgeStackStatusType values the CE compose path sends
DEPLOYMENT_RECEIVED, ERROR, ACKNOWLEDGED, REMOVED, RUNNING, DEPLOYING, REMOVING = 1, 2, 3, 4, 7, 8, 9
# edgeStack.Action and edgeStack.Status (the agent's own bookkeeping)
DEPLOY, UPDATE, DELETE, IDLE = "deploy", "update", "delete", "idle"
PENDING, DEPLOYED, FAILED, STATE_DEPLOYING, STATE_REMOVING = "pending", "deployed", "error", "deploying", "removing"
AWAIT_DEPLOYED, AWAIT_REMOVED = "awaiting deployed status", "awaiting removed status"
log = logging.getLogger("agent.stacks")


class StackError(edge.PortainerError):
    """A step that makes UpdateStacksStatus give up until the next poll."""


@dataclasses.dataclass(frozen=True)
class Settings:
    files_path: Path = Path("/tmp/edge_stacks")  # noqa: S108 - agent.EdgeStackFilesPath, inside the container
    queue_sleep: float = 5.0  # agent.EdgeStackQueueSleepIntervalSeconds
    status_timeout: float = 60.0  # waitForStatus: context.WithTimeout(ctx, 1*time.Minute)
    retry_wait: float = 5.0  # client.requestRetryWait

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Stand-in only: the selftests shorten the waits and move the folder."""
        return cls(Path(env.get("EDGE_STACK_FILES_PATH") or cls.files_path),
                   float(env.get("EDGE_STACK_QUEUE_SLEEP") or cls.queue_sleep),
                   float(env.get("EDGE_STACK_STATUS_TIMEOUT") or cls.status_timeout),
                   float(env.get("EDGE_STACK_RETRY_WAIT") or cls.retry_wait))


@dataclasses.dataclass
class Stack:
    ident: int
    version: int
    action: str
    status: str = PENDING
    name: str = ""
    entry: str = ""
    folder: Path = Path()
    env: list[str] = dataclasses.field(default_factory=list)
    waiting: bool = False  # a status wait is running (upstream holds the table lock meanwhile)
    after_wait: tuple[str, int] | None = None  # what a poll asked for meanwhile: (UPDATE, version) or (DELETE, 0)

    @property
    def project(self) -> str:
        return f"edge_{self.name}"

    @property
    def file(self) -> str:
        return f"{self.folder}/{self.entry}"

    @property
    def success(self) -> Path:
        return Path(f"{self.folder}.success")  # SuccessStackFileFolder


def join_paths(root: Path, name: str) -> Path:
    """filesystem.JoinPaths: the untrusted name cannot leave the root."""
    return root / os.path.normpath("/" + name).lstrip("/")


def persist_dir(folder: Path, entries: list[Any]) -> None:
    """DecodeDirEntries + PersistDir: base64 file contents, parents made 0744, modes from Permissions; nothing that
    was there before is removed."""
    for entry in entries:
        path = join_paths(folder, str(entry.get("Name", "")))
        mode = int(entry.get("Permissions") or 0)
        if not entry.get("IsFile"):
            path.mkdir(mode=mode, parents=True, exist_ok=True)
            continue
        path.parent.mkdir(mode=0o744, parents=True, exist_ok=True)
        try:
            content = base64.b64decode(entry.get("Content") or "", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise StackError(f"illegal base64 data in {entry.get('Name')}: {exc}") from exc
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)


class StackManager(threading.Thread):
    """The stack table and the worker that takes pending stacks first, then those waiting for their containers.
    The lock is held while a poll updates the table and while a stack is deployed or removed, as upstream."""

    def __init__(self, client: edge.EdgeClient, edge_id: str, settings: Settings) -> None:
        super().__init__(name="edge-stacks", daemon=True)
        self.client, self.edge_id, self.settings = client, edge_id, settings
        self.stacks: dict[int, Stack] = {}
        self.lock = threading.RLock()
        self.stopped = client.stopped

    def reset(self) -> None:
        """ResetStacks: the next good poll fetches and deploys every stack again (an idempotent `up -d`)."""
        with self.lock:
            self.stacks = {}

    def update(self, polled: list[Any] | None) -> None:
        """UpdateStacksStatus: a null list changes nothing; the first failure ends this round (the next poll
        tries again) and skips the removals."""
        if polled is None:
            return
        with self.lock:
            try:
                wanted = {int(item["ID"]): int(item.get("Version") or 0) for item in polled}
                for ident, version in wanted.items():
                    self._process(ident, version)
            except (OSError, edge.PortainerError, KeyError, TypeError, ValueError, AttributeError) as exc:
                log.error("an error occurred during stack management: %s", exc)
                return
            for ident, stack in self.stacks.items():
                if ident in wanted:
                    continue
                if stack.waiting:  # processRemovedStacks, once the wait is over
                    stack.after_wait = (DELETE, 0)
                else:
                    stack.action, stack.status = DELETE, PENDING

    def _process(self, ident: int, version: int) -> None:
        known = self.stacks.get(ident)
        if known is not None and known.waiting:  # upstream's poll would block until the wait is over
            known.after_wait = None if known.version == version else (UPDATE, version)
            return
        if known is not None and known.version == version:
            return
        stack = (dataclasses.replace(known, action=UPDATE, version=version, status=PENDING) if known
                 else Stack(ident, version, DEPLOY))
        payload = self.client.stack_config(ident, version)
        stack.name, stack.entry = str(payload.get("Name") or ""), str(payload.get("EntryFileName") or "")
        pairs = [f"{pair.get('name', '')}={pair.get('value', '')}" for pair in payload.get("EnvVars") or []]
        stack.env = [*pairs, f"PORTAINER_EDGE_ID={self.edge_id}"]
        stack.folder = join_paths(self.settings.files_path, str(ident))
        persist_dir(stack.folder, payload.get("DirEntries") or [])
        self.stacks[ident] = stack
        log.info("Edge stack %s (%s) version %s acknowledged", ident, stack.name, version)
        if not self.client.set_status(ident, ACKNOWLEDGED):
            raise StackError("SetEdgeStackStatus operation failed")

    def _next(self) -> Stack | None:
        with self.lock:
            for wanted in ((PENDING,), (AWAIT_DEPLOYED, AWAIT_REMOVED)):
                found = next((s for s in self.stacks.values() if s.status in wanted), None)
                if found is not None:
                    return found
        return None

    def run(self) -> None:
        """Start → performActionOnStack, sleeping only when there is nothing to do."""
        while not self.stopped.is_set():
            stack = self._next()
            if stack is None:
                self.stopped.wait(self.settings.queue_sleep)
            elif stack.status in (AWAIT_DEPLOYED, AWAIT_REMOVED):
                self._check_status(stack)
            else:
                with self.lock:
                    if self.stacks.get(stack.ident) is stack and stack.status == PENDING:  # no poll came between
                        (self._delete if stack.action == DELETE else self._deploy)(stack)

    def _deploy(self, stack: Stack) -> None:
        """validateStackFile, (no pull in CE), deployStack, backupSuccessStack."""
        try:
            compose.run(["-f", stack.file, "config", "--quiet"], str(stack.folder), stack.env)
        except compose.ComposeError as exc:
            stack.status = FAILED
            self.client.set_status(stack.ident, ERROR, f"failed to validate stack: {exc}")
            return
        self.client.set_status(stack.ident, DEPLOYING)
        stack.status = STATE_DEPLOYING
        try:
            compose.run(["-f", stack.file, "--project-name", stack.project, "up", "-d"], str(stack.folder), stack.env)
        except compose.ComposeError as exc:
            stack.status = FAILED
            self.client.set_status(stack.ident, ERROR, f"failed to redeploy stack: {exc}")
            return
        stack.action = IDLE
        self.client.set_status(stack.ident, DEPLOYMENT_RECEIVED)
        try:
            shutil.copytree(stack.folder, stack.success, dirs_exist_ok=True)
        except OSError as exc:
            log.error("unable to backup successful Edge stack %s: %s", stack.ident, exc)
        stack.status = AWAIT_DEPLOYED

    def _delete(self, stack: Stack) -> None:
        """deleteStack: `down` in the .success folder (a failure waits for the next poll to mark it again), 9,
        then both folders go; 4 comes once `ps` is empty."""
        stack.status = STATE_REMOVING
        try:
            compose.run(["--project-name", stack.project, "down", "--remove-orphans"], str(stack.success), stack.env)
        except compose.ComposeError as exc:
            log.error("unable to remove Edge stack %s: %s", stack.ident, exc)
            return
        if not self.client.set_status(stack.ident, REMOVING):
            return
        stack.status = AWAIT_REMOVED
        for folder in (stack.folder, stack.success):
            shutil.rmtree(folder, ignore_errors=True)

    def _check_status(self, stack: Stack) -> None:
        """checkStackStatus. Upstream holds the table lock through the wait (up to a minute), which stops the poll
        loop; here polls go on (check-ins keep the heartbeat) and what they ask of this stack is done afterwards."""
        with self.lock:
            if self.stacks.get(stack.ident) is not stack or stack.status not in (AWAIT_DEPLOYED, AWAIT_REMOVED):
                return  # a poll came between
            wanted = compose.RUNNING if stack.status == AWAIT_DEPLOYED else compose.REMOVED
            stack.waiting = True
        result: tuple[str, str] | None = None
        try:
            result = compose.wait_for_status(stack.project, wanted, self.settings.status_timeout, self.stopped)
        finally:
            with self.lock:
                stack.waiting = False
                self._after_wait(stack, wanted, result)

    def _after_wait(self, stack: Stack, wanted: str, result: tuple[str, str] | None) -> None:
        """7 or 2 (or 4 and out of the table); then what polls asked meanwhile. Nothing sent when time ran out."""
        current = self.stacks.get(stack.ident) is stack
        if result is not None:
            status, message = result
            if status == compose.ERROR:
                stack.status = FAILED
                self.client.set_status(stack.ident, ERROR, message)
            elif wanted == compose.RUNNING:
                stack.status = DEPLOYED
                self.client.set_status(stack.ident, RUNNING)
            else:
                if current:
                    del self.stacks[stack.ident]
                self.client.set_status(stack.ident, REMOVED)
                return
        deferred, stack.after_wait = stack.after_wait, None
        if deferred is None or not current:
            return
        if deferred[0] == DELETE:
            stack.action, stack.status = DELETE, PENDING
            return
        try:
            self._process(stack.ident, deferred[1])
        except (OSError, edge.PortainerError, TypeError, ValueError, AttributeError) as exc:
            log.error("an error occurred during stack management: %s", exc)
