"""The platform's services as bootstrap drives them, set up in phase 1 and used again by every later phase.

`portainer` (Portainer's admin, its pinned certificate and the API token: `PortainerAccess`), `apiclients`
(logged-in API sessions, opened on first use: NPM's and Technitium's here, phase 4's Uptime Kuma on the same
`Session`), `proxy` (NPM serves each service's name over HTTPS,
with a certificate) and `npmtls` (NPM refuses TLS 1.0 and 1.1, repaired by behaviour).

Imports bootstrap's shared steps (steps, remote, stack) and homelab; the phases and bootstrap's Portainer-level
steps (environments, gitstacks, edgestacks, gaming) import it, never the other way round.
"""
