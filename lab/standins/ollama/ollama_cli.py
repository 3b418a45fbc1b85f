#!/usr/bin/python3
"""The `ollama` command of the stand-in image (/bin/ollama): `serve`, `list`, `ps`, `--version`, as upstream's.

`list` and `ps` ask the server at OLLAMA_HOST, so the stack's healthcheck `ollama list` fails while it is down:
"Error: could not connect to ollama app, is it running?", exit status 1.
"""

from __future__ import annotations

import http.client
import json
import sys
import time
from typing import Any

import ollama_env
from ollama_wire import human_bytes, human_time, parse_go_time

VERSION = "0.5.1"
USAGE = """Large language model runner

Usage:
  ollama [flags]
  ollama [command]

Available Commands:
  serve       Start ollama
  list        List models
  ps          List running models
  help        Help about any command

Flags:
  -h, --help      help for ollama
  -v, --version   Show version information

Use "ollama [command] --help" for more information about a command.
(lab stand-in: run, pull, show, cp, rm, create and push are not implemented)"""


class CliError(Exception):
    """Printed as `Error: <message>`, exit status 1, as cobra does."""


def request(method: str, path: str) -> Any:
    """One call to the server at OLLAMA_HOST; its JSON answer, or CliError with the server's error text."""
    address = ollama_env.host()
    host = "127.0.0.1" if address.host in ("", "0.0.0.0", "::") else address.host  # noqa: S104 - Go dials these locally
    factory = http.client.HTTPSConnection if address.scheme == "https" else http.client.HTTPConnection
    connection = factory(host, address.port, timeout=10)
    try:
        connection.request(method, path, headers={"User-Agent": f"ollama/{VERSION} (linux) Go/go1.22"})
        response = connection.getresponse()
        body = response.read()
    except ConnectionRefusedError:
        raise CliError("could not connect to ollama app, is it running?") from None
    except OSError as error:
        raise CliError(f'{method} "{address.url}{path}": {error}') from None
    finally:
        connection.close()
    if response.status >= 400:
        try:
            raise CliError(json.loads(body)["error"])
        except (ValueError, KeyError, TypeError):
            raise CliError(body.decode(errors="replace").strip() or response.reason) from None
    return json.loads(body) if body and method != "HEAD" else None


def table(header: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns, four spaces apart, no borders (tablewriter as the upstream CLI sets it up)."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join("".join(cell.ljust(width) + "    " for cell, width in zip(row, widths, strict=True))
                     for row in [header, *rows])


def list_models(prefix: str) -> str:
    request("HEAD", "/")
    now = time.time_ns()
    rows = [[m["name"], m["digest"][:12], human_bytes(m["size"]), human_time(parse_go_time(m["modified_at"]), now)]
            for m in request("GET", "/api/tags")["models"] if m["name"].startswith(prefix)]
    return table(["NAME", "ID", "SIZE", "MODIFIED"], rows)


def list_running(prefix: str) -> str:
    request("HEAD", "/")
    now = time.time_ns()
    rows = []
    for m in request("GET", "/api/ps")["models"]:
        if m["name"].startswith(prefix):
            expires = parse_go_time(m["expires_at"])
            until = "Stopping..." if expires < now else human_time(expires, now)
            rows.append([m["name"], m["digest"][:12], human_bytes(m["size"]), processor(m), until])
    return table(["NAME", "ID", "SIZE", "PROCESSOR", "UNTIL"], rows)


def processor(model: dict[str, Any]) -> str:
    """Where the model runs, from size_vram against size, as `ollama ps` prints it."""
    size, vram = model["size"], model["size_vram"]
    if vram == 0:
        return "100% CPU"
    if vram == size:
        return "100% GPU"
    if vram > size or size == 0:
        return "Unknown"
    cpu = round((size - vram) / size * 100)
    return f"{cpu}%/{100 - cpu}% CPU/GPU"


def version() -> str:
    try:
        server = request("GET", "/api/version")["version"]
    except CliError:
        return f"Warning: could not connect to a running Ollama instance\nWarning: client version is {VERSION}"
    return f"ollama version is {server}" + ("" if server == VERSION else f"\nWarning: client version is {VERSION}")


def main(argv: list[str]) -> int:
    command, args = (argv[0], argv[1:]) if argv else ("help", [])
    try:
        if command in ("-v", "--version"):
            print(version())
        elif command == "serve":
            from standin import main as serve  # the client commands need none of the server

            return serve()
        elif command in ("list", "ls"):
            print(list_models(args[0] if args else ""))
        elif command == "ps":
            print(list_running(args[0] if args else ""))
        elif command in ("help", "-h", "--help"):
            print(USAGE)
        else:
            raise CliError(f'unknown command "{command}" for "ollama"\nRun \'ollama --help\' for usage.')
    except CliError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
