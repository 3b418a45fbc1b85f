"""The specs' pytest plugin lives in homelab.pytest_plugin; this file only switches it on."""

pytest_plugins = ["homelab.pytest_plugin"]
