"""Git stacks after creation on the Portainer stand-in: redeploy, GitOps polling, Git settings, the editor's
update (which detaches the stack from Git), delete, an agent environment, and pyportainer as an oracle."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from pyportainer import Portainer as Client
from standin_helpers import free_port, wait_until
from test_portainer import AGENT, PASSWORD, SECRET, Process
from test_portainer_git_support import COMPOSE, GitServer, Lab, Repo, create, git_server, lab, make_repo

__all__ = ["git_server", "lab"]
NEW = "services:\n  web:\n    image: nginx:1.28\n"


def stack_on(lab: Lab, git_server: GitServer, name: str, **extra: Any) -> tuple[Repo, dict[str, Any]]:
    repo = make_repo(git_server.root, name, git_server.base)
    repo.commit({"docker-compose.yml": COMPOSE})
    made = create(lab, Name=name, RepositoryURL=repo.url, RepositoryReferenceName="refs/heads/main", **extra)
    assert made.status_code == 200, made.text
    return repo, made.json()


def test_redeploy_pulls_the_new_commit(lab: Lab, git_server: GitServer) -> None:
    """PUT /git/redeploy clones again, runs `pull` then `up -d --force-recreate`, and records the new commit."""
    repo, stack = stack_on(lab, git_server, "redeploy")
    sha = repo.commit({"docker-compose.yml": NEW})
    answer = lab.api.put(f"/api/stacks/{stack['Id']}/git/redeploy", params={"endpointId": lab.endpoint_id},
                         json={"RepositoryReferenceName": "refs/heads/main", "PullImage": True})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["GitConfig"]["ConfigHash"], answer.json()["UpdatedBy"]) == (sha, "admin")
    pull, up = (run["argv"] for run in lab.runs()[-2:])
    assert (pull[-3:], up[-3:]) == (["--project-name", "redeploy", "pull"], ["up", "-d", "--force-recreate"])
    assert lab.api.get(f"/api/stacks/{stack['Id']}/file").json()["StackFileContent"] == NEW


def test_auto_update_picks_up_a_commit_without_any_call(lab: Lab, git_server: GitServer) -> None:
    """AutoUpdate.Interval polls the reference; a new commit is cloned, pulled and deployed, ConfigHash follows."""
    repo, stack = stack_on(lab, git_server, "gitops", AutoUpdate={"Interval": "1s"})
    assert stack["AutoUpdate"]["JobID"]
    sha = repo.commit({"docker-compose.yml": NEW})
    wait_until("the polling job's redeploy",
               lambda: lab.api.get(f"/api/stacks/{stack['Id']}").json()["GitConfig"]["ConfigHash"] == sha, 15)
    assert lab.api.get(f"/api/stacks/{stack['Id']}/file").json()["StackFileContent"] == NEW
    assert lab.api.get(f"/api/stacks/{stack['Id']}").json()["UpdateDate"] > 0
    assert any(run["argv"][-1] == "pull" and "gitops" in run["argv"] for run in lab.runs())


def test_git_settings_update_keeps_the_password_secret(lab: Lab, git_server: GitServer) -> None:
    """PUT /git stores reference, Env and credentials, answers with the password blanked, and deploys nothing."""
    _, stack = stack_on(lab, git_server, "settings")
    runs = len(lab.runs())
    answer = lab.api.put(f"/api/stacks/{stack['Id']}/git", json={
        "RepositoryReferenceName": "refs/heads/main", "Env": [{"name": "A", "value": "1"}],
        "RepositoryAuthentication": True, "RepositoryUsername": "ops", "RepositoryPassword": "s3cret"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["GitConfig"]["Authentication"]["Username"], body["GitConfig"]["Authentication"]["Password"]) == (
        "ops", "")
    assert (body["Env"], body["UpdatedBy"], len(lab.runs())) == ([{"name": "A", "value": "1"}], "admin", runs)
    assert "s3cret" not in lab.api.get("/api/stacks").text


def test_editor_update_detaches_from_git(lab: Lab, git_server: GitServer) -> None:
    """PUT /api/stacks/{id} with StackFileContent drops GitConfig and AutoUpdate, sets FromAppTemplate, deploys."""
    _, stack = stack_on(lab, git_server, "detach", AutoUpdate={"Interval": "1h"})
    path = f"/api/stacks/{stack['Id']}"
    assert lab.api.put(path, json={"StackFileContent": NEW}).status_code == 400, "endpointId is required"
    answer = lab.api.put(path, params={"endpointId": lab.endpoint_id}, json={"StackFileContent": NEW})
    body = answer.json()
    assert (body["GitConfig"], body["AutoUpdate"], body["FromAppTemplate"]) == (None, None, True)
    assert lab.api.get(f"{path}/file").json()["StackFileContent"] == NEW
    assert lab.runs()[-1]["argv"][-2:] == ["up", "-d"]
    redeploy = lab.api.put(f"{path}/git/redeploy", json={})
    assert (redeploy.status_code, redeploy.json()["message"]) == (400, "Stack is not created from git")


def test_delete_runs_compose_down(lab: Lab, git_server: GitServer) -> None:
    """DELETE /api/stacks/{id}?endpointId= runs `down --remove-orphans` and removes the project folder."""
    _, stack = stack_on(lab, git_server, "gone")
    assert lab.api.delete(f"/api/stacks/{stack['Id']}", params={"endpointId": lab.endpoint_id}).status_code == 204
    assert lab.runs()[-1]["argv"] == ["--project-name", "gone", "down", "--remove-orphans"]
    assert not (lab.data / "compose" / str(stack["Id"])).exists()
    assert lab.api.get(f"/api/stacks/{stack['Id']}").status_code == 404


def test_agent_environment_deploys_through_a_signed_local_proxy(lab: Lab, git_server: GitServer,
                                                                 tmp_path: Any) -> None:
    """On an agent environment compose gets --host tcp://127.0.0.1:PORT, a proxy that signs for the agent."""
    port = free_port()
    agent = Process([str(AGENT)], {"AGENT_HOST": "127.0.0.1", "AGENT_PORT": str(port), "DOCKER_SOCKET": lab.socket,
                                   "AGENT_ADVERTISE_ADDR": "127.0.0.1", "AGENT_SECRET": SECRET},
                    f"https://127.0.0.1:{port}/ping", tmp_path / "agent.log")
    try:
        form = {"Name": "agent-git", "EndpointCreationType": "2", "URL": f"tcp://127.0.0.1:{port}", "TLS": "true",
                "TLSSkipVerify": "true", "TLSSkipClientVerify": "true"}
        ident = lab.api.post("/api/endpoints", data=form).json()["Id"]
        repo = make_repo(git_server.root, "viaagent", git_server.base)
        repo.commit({"docker-compose.yml": COMPOSE})
        made = lab.api.post("/api/stacks/create/standalone/repository", params={"endpointId": ident},
                            json={"Name": "viaagent", "RepositoryURL": repo.url})
        assert made.status_code == 200, made.text
        run = lab.runs()[-1]
        assert run["argv"][0] == "--host"
        assert run["argv"][1].startswith("tcp://127.0.0.1:")
        assert run["ping"] == [200, '"OK"'], "the proxy forwarded a signed request the agent accepted"
    finally:
        agent.stop()


def pyportainer(lab: Lab, operation: str, *args: Any, **kwargs: Any) -> Any:
    async def run() -> Any:
        token = lab.api.headers["Authorization"].removeprefix("Bearer ")
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
            key = (await (await session.post(f"{lab.portainer.base}/api/users/1/tokens", json={
                "password": PASSWORD, "description": "git"},
                headers={"Authorization": f"Bearer {token}"})).json())["rawAPIKey"]
            client = Client(lab.portainer.base, key, session=session, max_retries=0)
            return await getattr(client, operation)(*args, **kwargs)
    return asyncio.run(run())


def test_pyportainer_reads_and_redeploys_a_git_stack(lab: Lab, git_server: GitServer) -> None:
    """pyportainer (written against real Portainer) lists, reads and redeploys the stack through /git/redeploy."""
    repo, stack = stack_on(lab, git_server, "oracle")
    assert "oracle" in [s.name for s in pyportainer(lab, "get_stacks", endpoint_id=lab.endpoint_id)]
    assert pyportainer(lab, "get_stack_file", stack["Id"]) == COMPOSE
    sha = repo.commit({"docker-compose.yml": NEW})
    pyportainer(lab, "update_stack", lab.endpoint_id, stack["Id"], pull_image=True)
    assert lab.api.get(f"/api/stacks/{stack['Id']}").json()["GitConfig"]["ConfigHash"] == sha
    assert lab.runs()[-1]["argv"][-3:] == ["up", "-d", "--force-recreate"]


def test_list_filters_by_environment(lab: Lab, git_server: GitServer) -> None:
    """filters={"EndpointID": N} keeps that environment's compose stacks only (filterStacks)."""
    stack_on(lab, git_server, "listed")
    mine = lab.api.get("/api/stacks", params={"filters": f'{{"EndpointID": {lab.endpoint_id}}}'}).json()
    other = lab.api.get("/api/stacks", params={"filters": '{"EndpointID": 999}'}).json()
    assert "listed" in [s["Name"] for s in mine]
    assert other == []
