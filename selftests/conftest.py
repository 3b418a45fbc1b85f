"""The project's own tests. `lab`-marked ones need the lab (see selftests/lab)."""

pytest_plugins = ["pytester"]
