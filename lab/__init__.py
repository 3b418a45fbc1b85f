"""The lab: a simulated homelab on the local Docker engine (hosts, router, vantages, registry, CA).

`lab up` builds everything from a debootstrap'd Debian root, starts it and writes `.lab/inventory.yaml`,
which specs and bootstrap use unchanged. See docs/lab.md.
"""
