"""Compose stacks from Git on the Portainer stand-in: clone over smart HTTP, deploy with `docker-compose`
(recorded, not run), and the errors Portainer CE 2.23.0 answers for a bad repository, reference or file."""

from __future__ import annotations

import socket

from test_portainer_git_support import COMPOSE, GitServer, Lab, create, git_server, lab, make_repo

__all__ = ["git_server", "lab"]  # module fixtures shared with test_portainer_git_updates.py


def test_create_clones_records_the_commit_and_deploys(lab: Lab, git_server: GitServer) -> None:
    """The reference is cloned into /data/compose/<id>, ConfigHash is its commit, compose runs `up -d` there."""
    repo = make_repo(git_server.root, "create", git_server.base)
    sha = repo.commit({"stacks/web/docker-compose.yml": COMPOSE, "stacks/web/.env": "TAG=1"})
    made = create(lab, Name="Web Stack", RepositoryURL=repo.url + "/", RepositoryReferenceName="refs/heads/main",
                  ComposeFile="stacks/web/docker-compose.yml", Env=[{"name": "PORT", "value": "8080"}])
    assert made.status_code == 200, made.text
    stack = made.json()
    project = str(lab.data / "compose" / str(stack["Id"]))
    assert (stack["Name"], stack["ProjectPath"], stack["GitConfig"]["URL"]) == ("webstack", project, repo.url)
    assert (stack["GitConfig"]["ConfigHash"], stack["CreatedBy"]) == (sha, "admin")
    assert not (lab.data / "compose" / str(stack["Id"]) / ".git").exists(), "upstream keeps no .git"
    run = lab.runs()[-1]
    assert run["argv"] == ["-f", f"{project}/stacks/web/docker-compose.yml", "--project-name", "webstack",
                           "--env-file", "stack.env", "up", "-d"]
    assert (run["cwd"], run["env"]) == (project, "TAG=1\nPORT=8080\n")


def test_get_file_returns_the_committed_compose(lab: Lab, git_server: GitServer) -> None:
    """GET /api/stacks/{id}/file answers the entry point as cloned."""
    repo = make_repo(git_server.root, "file", git_server.base)
    repo.commit({"docker-compose.yml": COMPOSE})
    stack = create(lab, Name="file", RepositoryURL=repo.url).json()
    assert stack["EntryPoint"] == "docker-compose.yml"
    assert lab.api.get(f"/api/stacks/{stack['Id']}/file").json() == {"StackFileContent": COMPOSE}


def test_unreachable_repository_is_500_naming_the_url(lab: Lab) -> None:
    """A repository nobody answers for fails the create as go-git words it, URL included, and records nothing."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/nobody.git"
    before = len(lab.api.get("/api/stacks").json())
    failed = create(lab, Name="unreachable", RepositoryURL=url)
    message = failed.json()["message"]
    assert failed.status_code == 500
    assert message.startswith(f'unable to clone git repository: failed to clone git repository: Get "{url}/info/refs')
    assert message.endswith("connect: connection refused")
    assert len(lab.api.get("/api/stacks").json()) == before


def test_unknown_repository_is_repository_not_found(lab: Lab, git_server: GitServer) -> None:
    """A 404 from the Git server is go-git's "repository not found"."""
    failed = create(lab, Name="missing-repo", RepositoryURL=f"{git_server.base}/absent.git")
    assert (failed.status_code, failed.json()["message"]) == (
        500, "unable to clone git repository: failed to clone git repository: repository not found")


def test_missing_reference_is_reference_not_found(lab: Lab, git_server: GitServer) -> None:
    """A reference the remote does not have fails the clone with go-git's "reference not found"."""
    repo = make_repo(git_server.root, "noref", git_server.base)
    repo.commit({"docker-compose.yml": COMPOSE})
    failed = create(lab, Name="noref", RepositoryURL=repo.url, RepositoryReferenceName="refs/heads/release")
    assert (failed.status_code, failed.json()["message"]) == (
        500, "unable to clone git repository: failed to clone git repository: reference not found")


def test_missing_compose_file_fails_the_deployment(lab: Lab, git_server: GitServer) -> None:
    """An absent ComposeFile fails as docker-compose does, wrapped "failed to deploy a stack", then `down`."""
    repo = make_repo(git_server.root, "nofile", git_server.base)
    repo.commit({"docker-compose.yml": COMPOSE})
    failed = create(lab, Name="nofile", RepositoryURL=repo.url, ComposeFile="stacks/absent.yml")
    message = failed.json()["message"]
    assert failed.status_code == 500
    assert message.startswith("failed to deploy a stack: open ")
    assert message.endswith("/stacks/absent.yml: no such file or directory")
    assert lab.runs()[-1]["argv"] == ["--project-name", "nofile", "down", "--remove-orphans"]
    assert "nofile" not in [s["Name"] for s in lab.api.get("/api/stacks").json()]


def test_compose_failure_is_its_stderr(lab: Lab, git_server: GitServer) -> None:
    """A failing `up` answers 500 with docker-compose's stderr after "failed to deploy a stack: "."""
    repo = make_repo(git_server.root, "broken", git_server.base)
    repo.commit({"docker-compose.yml": COMPOSE})
    fail = lab.record.with_name(lab.record.name + ".fail")
    fail.write_text("service web: image not found\n")
    try:
        failed = create(lab, Name="broken", RepositoryURL=repo.url)
    finally:
        fail.unlink()
    assert (failed.status_code, failed.json()) == (500, {
        "message": "failed to deploy a stack: service web: image not found\n",
        "details": "Failed to deploy a stack: service web: image not found\n"})


def test_duplicate_name_is_409(lab: Lab, git_server: GitServer) -> None:
    """A second stack of the same normalized name on the environment is refused as stackExistsError."""
    repo = make_repo(git_server.root, "twice", git_server.base)
    repo.commit({"docker-compose.yml": COMPOSE})
    assert create(lab, Name="Twice", RepositoryURL=repo.url).status_code == 200
    again = create(lab, Name="twice!", RepositoryURL=repo.url)
    message = "A stack with the normalized name 'twice' already exists"
    assert (again.status_code, again.json()) == (409, {"message": message, "details": message})


def test_payload_validation(lab: Lab) -> None:
    """composeStackFromGitRepositoryPayload.Validate and ValidateAutoUpdateSettings answer 400."""
    url = "https://git.lab/homelab.git"
    for payload, reason in (({"Name": "", "RepositoryURL": url}, "Invalid stack name"),
                            ({"Name": "x", "RepositoryURL": "not a url"},
                             "Invalid repository URL. Must correspond to a valid URL format"),
                            ({"Name": "x", "RepositoryURL": url, "AutoUpdate": {}},
                             "Webhook or Interval must be provided"),
                            ({"Name": "x", "RepositoryURL": url, "AutoUpdate": {"Interval": "soon"}},
                             "Invalid Interval format")):
        answer = create(lab, **payload)
        assert (answer.status_code, answer.json()) == (400, {"message": "Invalid request payload",
                                                             "details": reason}), payload
