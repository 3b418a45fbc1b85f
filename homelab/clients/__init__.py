"""Typed clients for the services' own APIs, each over HTTP(S) (Uptime Kuma: Socket.IO) with every call bounded.

Portainer (`portainer`, over the certificate pinning of `pinned_tls`; its Edge compute API `portainer_edge`; and
the environments the inventory wants there: `environments`), Nginx Proxy Manager (`npm`), Technitium
(`technitium`), Grafana, Prometheus, Uptime Kuma (`uptimekuma`) and the Git server's smart HTTP (`gitremote`).
Each turns the service's failures into its own exception with a readable message. What they share (closed at
the end of a `with` block; one bounded httpx.Client; an error that keeps its HTTP status) is in `base`. `connect`
is the one place that makes them: each service's client at the address the inventory gives, logged in with its
secrets (`connect.grafana(inventory, secrets)`).

Imports homelab.model only (no SSH: these speak to services, transport speaks to hosts); checks, report, specs
and bootstrap import it.
"""
