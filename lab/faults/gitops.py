"""The GitOps faults: a stack edited by hand in Portainer's editor (which detaches it from Git, as upstream does),
caught by GIT-STACK-001..003 for that stack and host; an Edge stack edited in Portainer (its file rewritten, the
agents redeploy it), caught by GIT-EDGE-002. Bootstrap phase 4 puts both back from Git. The drift of a stack behind
its reference, GitOps redeploying a Git stack and bootstrap an Edge stack, are proven in
selftests/proof/test_gitops_proof.py.
"""

from __future__ import annotations

from homelab.clients.portainer_edge import EdgeApi
from lab.faults.base import Fault, Lab

HOST, STACK = "pve-docker-1", "exporters"
EDGE_HOST = "gaming-pc-1"
EDIT = "\n# edited in Portainer's editor, not in Git\n"


def _edit_in_portainer(lab: Lab) -> None:
    with lab.portainer() as portainer:
        endpoint = next(e["Id"] for e in portainer.endpoints() if e["Name"] == HOST)
        stack = next(s for s in portainer.stacks(endpoint) if s["Name"] == STACK)
        content = portainer.stack_file(int(stack["Id"])) + EDIT
        # PUT /api/stacks/{id} (updateComposeStackPayload): what the editor's "Update the stack" sends
        portainer.request("PUT", f"/api/stacks/{stack['Id']}", params={"endpointId": endpoint}, timeout=300,
                          json={"StackFileContent": content, "Env": stack.get("Env") or [], "Prune": False,
                                "PullImage": False})


def _edit_edge_stack(lab: Lab) -> None:
    with lab.portainer() as portainer:
        edge = EdgeApi(portainer)
        stack = next(s for s in edge.stacks() if s["Name"] == STACK)
        # PUT /api/edge_stacks/{id} (updateEdgeStackPayload): the Edge stack editor's "Update the stack"; with
        # UpdateVersion the agents deploy the edited file
        portainer.request("PUT", f"/api/edge_stacks/{stack['Id']}", json={
            "StackFileContent": edge.file(int(stack["Id"])) + EDIT, "UpdateVersion": True,
            "EdgeGroups": stack["EdgeGroups"], "DeploymentType": 0})


FAULTS = (
    Fault("stack-edited-in-portainer", f"the {STACK} stack on {HOST} edited in Portainer's editor (a comment added): "
          "Portainer detaches it from Git",
          (f"test_stack_deployed_from_git[{STACK}@{HOST}]", f"test_stack_runs_the_reference[{STACK}@{HOST}]",
           f"test_no_stack_outside_git[{HOST}]"),
          _edit_in_portainer, lambda lab: None, phase=4, proof="exposure",
          why="undone by bootstrap phase 4 alone: it replaces a stack detached from Git with the Git stack"),
    Fault("edge-stack-edited-in-portainer", f"the {STACK} Edge stack edited in Portainer (a comment added, its "
          "version bumped): the agents deploy a file that is not in Git",
          (f"test_edge_stack_runs_the_reference[{STACK}@{EDGE_HOST}]",),
          _edit_edge_stack, lambda lab: None, phase=4, proof="exposure",
          why="undone by bootstrap phase 4 alone: it recreates an Edge stack whose file differs from the reference"),
)
