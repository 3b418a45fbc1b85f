"""The library that bootstrap, the specs (tests/) and the lab share, one folder per job (docs/architecture.md):
model (the inventory and its plans), transport (hosts), clients (the services' APIs), checks, report and specs
(the pytest plugin), each importing only the ones before it in this list (transport and clients: model only)."""
