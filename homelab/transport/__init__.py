"""How this machine reaches the hosts: verified SSH, and what rides on it or is sent through it.

One SSH connection per host for a run (`ssh`), the Docker SDK and testinfra over that connection (`dockerclient`,
`hostaccess`, with the host-down policy), and the reachability probes run here or on any machine we SSH into
(`probes`, over the stdlib-only `sweep` and `httpprobe`, whose source is also sent as `python3 -c`).

Imports homelab.model only; checks, report, specs and bootstrap import it.
"""
