"""Clone, deploy and redeploy Git stacks, and the GitOps polling jobs (2.23.0: api/stacks/stackutils/gitops.go
DownloadGitRepository, api/git/backup.go CloneWithBackup, api/stacks/deployments/{deploy.go,autoupdate.go,
scheduled.go}, api/scheduler/scheduler.go StartJobEvery)."""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pt_agentclient as agentclient
import pt_compose as compose
import pt_git as git
from pt_stackmodel import DEPLOYABLE_TYPES, credentials, go_duration
from pt_web import HttpError

if TYPE_CHECKING:
    from pt_app import App

log = logging.getLogger("portainer.gitops")
INVALID_CREDENTIAL = "Invalid git credential"  # api/git/backup.go ErrInvalidGitCredential


def download(stack: dict[str, Any], username: str, password: str) -> str:
    """DownloadGitRepository: clone into ProjectPath, then the latest commit of the reference (ConfigHash)."""
    cfg = stack["GitConfig"]
    try:
        git.clone(Path(stack["ProjectPath"]), cfg["URL"], cfg["ReferenceName"], username, password,
                  cfg["TLSSkipVerify"])
    except git.AuthenticationError as exc:
        raise git.GitError(INVALID_CREDENTIAL) from exc
    except git.GitError as exc:
        raise git.GitError(f"unable to clone git repository: failed to clone git repository: {exc}") from exc
    try:
        return git.latest_commit(cfg["URL"], cfg["ReferenceName"], username, password, cfg["TLSSkipVerify"])
    except git.GitError as exc:
        reason = exc if isinstance(exc, git.AuthenticationError) else f"failed to list repository refs: {exc}"
        raise git.GitError(f"unable to fetch git repository id: {reason}") from exc


def clone_with_backup(stack: dict[str, Any], username: str, password: str) -> None:
    """CloneWithBackup: move ProjectPath to -old, clone, restore it on failure, drop it on success."""
    project, cfg = Path(stack["ProjectPath"]), stack["GitConfig"]
    backup = project.with_name(project.name + "-old")
    shutil.rmtree(backup, ignore_errors=True)
    if project.exists():
        project.rename(backup)
    try:
        git.clone(project, cfg["URL"], cfg["ReferenceName"], username, password, cfg["TLSSkipVerify"])
    except git.GitError as exc:
        shutil.rmtree(project, ignore_errors=True)
        if backup.exists():
            backup.rename(project)
        prefix = f"{INVALID_CREDENTIAL}: " if isinstance(exc, git.AuthenticationError) else ""
        raise git.GitError(f"{prefix}Unable to clone git repository: failed to clone git repository: {exc}") from exc
    shutil.rmtree(backup, ignore_errors=True)


def deploy(app: App, stack: dict[str, Any], endpoint: dict[str, Any], pull: bool, recreate: bool) -> None:
    """Deploy a compose stack; Edge environments are not deployed (the stand-in has no tunnel)."""
    if endpoint["Type"] not in DEPLOYABLE_TYPES:
        return
    try:
        compose.deploy(stack, endpoint, app.signer, pull, recreate)
    except compose.ComposeError as exc:
        raise HttpError(500, str(exc), str(exc)) from exc


def redeploy_when_changed(app: App, stack_id: int) -> None:
    """deployments.RedeployWhenChanged (polling): pull and redeploy when the remote commit differs."""
    stack = app.store.get("stacks", stack_id)
    if stack is None or stack.get("GitConfig") is None:
        return
    endpoint = app.store.get("endpoints", stack["EndpointId"])
    if endpoint is None:
        raise RuntimeError(f"failed to find the environment {stack['EndpointId']} associated to the stack {stack_id}")
    author = stack.get("UpdatedBy") or stack.get("CreatedBy")
    if not any(u.get("Username") == author for u in app.store.all("users")):
        raise RuntimeError(f"stack's {stack_id} author {author} is missing")
    if not _online(endpoint) or stack.get("FromAppTemplate"):
        return
    cfg, (username, password) = stack["GitConfig"], credentials(stack)
    new_hash = git.latest_commit(cfg["URL"], cfg["ReferenceName"], username, password, cfg["TLSSkipVerify"])
    if new_hash.lower() == str(cfg.get("ConfigHash", "")).lower():
        return
    git.clone(Path(stack["ProjectPath"]), cfg["URL"], cfg["ReferenceName"], username, password, cfg["TLSSkipVerify"])
    cfg["ConfigHash"], stack["UpdateDate"] = new_hash, app.now()
    if endpoint["Type"] in DEPLOYABLE_TYPES:
        compose.deploy(stack, endpoint, app.signer, pull=True, recreate=False)
    with app.store.tx() as db:
        if str(stack_id) in db["stacks"]:
            current = db["stacks"][str(stack_id)]
            current["GitConfig"]["ConfigHash"], current["UpdateDate"], current["Status"] = new_hash, stack[
                "UpdateDate"], 1
    log.info("stack %s redeployed at commit %s", stack["Name"], new_hash)


def _online(endpoint: dict[str, Any]) -> bool:
    """isEnvironmentOnline: only agent environments are pinged."""
    if endpoint["Type"] not in agentclient.AGENT_TYPES:
        return True
    try:
        agentclient.ping_agent(endpoint["URL"])
    except agentclient.TargetError:
        return False
    return True


class Scheduler:
    """StartJobEvery: one thread per job, first run one interval after the start; errors are logged and the job
    keeps its schedule. The API has no minimum interval (ParseDuration only); cron.Every rounds up to 1 s."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.jobs: dict[str, threading.Event] = {}
        self.lock = threading.Lock()
        self.next_id = 1

    def start(self, stack_id: int, interval: str) -> str:
        seconds = max(go_duration(interval) or 0.0, 1.0) # robfig/cron Every: at least 1 s
        with self.lock:
            job_id, self.next_id = str(self.next_id), self.next_id + 1
            self.jobs[job_id] = stop = threading.Event()
        threading.Thread(target=self._loop, args=(stack_id, seconds, stop), name=f"gitops-{stack_id}",
                         daemon=True).start()
        return job_id

    def stop(self, job_id: str) -> None:
        with self.lock:
            event = self.jobs.pop(job_id, None)
        if event is not None:
            event.set()

    def _loop(self, stack_id: int, seconds: float, stop: threading.Event) -> None:
        while not stop.wait(seconds):
            try:
                redeploy_when_changed(self.app, stack_id)
            except Exception as exc:
                log.error("job returned an error, it will be rescheduled: stack %s: %s", stack_id, exc)

    def resume_all(self) -> None:
        """StartStackSchedules: restart the jobs of every stack with an interval (on server start)."""
        for stack in self.app.store.all("stacks"):
            auto = stack.get("AutoUpdate") or {}
            if auto.get("Interval"):
                job_id = self.start(stack["Id"], auto["Interval"])
                with self.app.store.tx() as db:
                    db["stacks"][str(stack["Id"])]["AutoUpdate"]["JobID"] = job_id
