"""Bootstrap: apply each rollout phase of the inventory to its hosts, idempotently, with a dry run."""
