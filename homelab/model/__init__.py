"""The homelab as described, and everything derived from the description without touching a host.

The inventory's data model (`inventory`) and its reader (`inventory_loader`, over `yamlfile` and `schema`); the
stacks' compose files (`compose`, `images`, `paths`); the plans derived from them (`policy`, `firewall`,
`monitoring`, `gitops`); waivers; secret values and the process-wide redactor that masks them (`secrets`,
`envfile`, `redact`); leaf certificates from the inventory's own CA (`certs`).

The ground floor: it imports nothing of homelab outside this folder, and every other room may import it.
"""
