"""Images through a mirror: the inventory's `settings.image_map` applied as a compose override file.

`stacks/` stays unchanged. A deployment that has an image map (the lab's registry, or a homelab's own
mirror) deploys with `docker compose -f STACK.yml -f OVERRIDE.yml up -d`, where the override, made by
`override_for`, replaces only the `image:` of each service whose image is mapped. Compose merges the
two files; every other key of the stack is left as written.
"""

from __future__ import annotations

from typing import Any


def override_for(compose: dict[str, Any], image_map: dict[str, str]) -> dict[str, Any] | None:
    """`{"services": {name: {"image": mapped}}}` for each service whose image is in `image_map`, else None."""
    services = compose.get("services") or {}
    mapped = {name: {"image": image_map[spec["image"]]} for name, spec in services.items()
              if isinstance(spec, dict) and spec.get("image") in image_map}
    return {"services": mapped} if mapped else None
