"""The pytest side of the specs in tests/: the plugin (registered through the `pytest11` entry point in
pyproject.toml) with its inventory options, per-host access, parametrization and reports, and `targets`, what
`@pytest.mark.each(KIND, **filters)` selects from the inventory.

The top floor: it may import every other room of homelab; nothing in homelab imports it (tests/ and pytest do).
"""
