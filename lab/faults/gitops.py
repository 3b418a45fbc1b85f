"""The GitOps fault: a stack edited by hand in Portainer's editor (which detaches it from Git, as upstream does).
Caught by GIT-STACK-001..003 for that stack and host; bootstrap phase 4 replaces the stack from Git. The drift of
a stack behind its reference, and GitOps redeploying it, are proven in selftests/proof/test_gitops_proof.py.
"""

from __future__ import annotations

from lab.faults.base import Fault, Lab

HOST, STACK = "pve-docker-1", "exporters"
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


FAULTS = (
    Fault("stack-edited-in-portainer", f"the {STACK} stack on {HOST} edited in Portainer's editor (a comment added): "
          "Portainer detaches it from Git",
          (f"test_stack_deployed_from_git[{STACK}@{HOST}]", f"test_stack_runs_the_reference[{STACK}@{HOST}]",
           f"test_no_stack_outside_git[{HOST}]"),
          _edit_in_portainer, lambda lab: None, phase=4, proof="exposure",
          why="undone by bootstrap phase 4 alone: it replaces a stack detached from Git with the Git stack"),
)
