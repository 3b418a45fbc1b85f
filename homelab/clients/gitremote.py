"""What the Git server says a reference points at: Git's smart HTTP discovery (`GET
REPO/info/refs?service=git-upload-pack`, the pkt-lines `git ls-remote` reads), TLS verified against the inventory's
CA bundle. When the inventory gives the server's address (`git.address`), the connection goes there with the
repository's host name as SNI and Host, so the answer does not depend on this machine's resolver.
"""

from __future__ import annotations

import io
import re
import ssl
from typing import Any
from urllib.parse import urlparse

import httpx

from homelab.model.inventory import GitSource, Inventory


class GitRemoteError(Exception):
    """The server gave no usable answer: unreachable, refused, or not Git's smart HTTP."""


PKT_SIZE = re.compile(rb"[0-9a-f]{4}")
COMMIT = re.compile(r"[0-9a-f]{40}")
SERVICE = "# service=git-upload-pack"


def advertised_refs(body: bytes) -> dict[str, str]:
    """ref name -> commit, from a smart HTTP discovery answer (pkt-lines, gitprotocol-http(5)): the service
    announcement, then one `COMMIT NAME` per packet. GitRemoteError for anything else."""
    refs: dict[str, str] = {}
    lines: list[str] = []
    at = 0
    while at < len(body):
        if not PKT_SIZE.fullmatch(body[at:at + 4]):
            raise GitRemoteError("the answer is not in Git's pkt-line format (not Git's smart HTTP)")
        size = int(body[at:at + 4], 16)
        if size == 0:  # a flush-pkt
            at += 4
            continue
        if size < 4 or at + size > len(body):
            raise GitRemoteError("the answer ends inside a pkt-line (cut short)")
        lines.append(body[at + 4:at + size].rstrip(b"\n").split(b"\0", 1)[0].decode(errors="replace"))
        at += size
    if not lines or lines[0] != SERVICE:
        raise GitRemoteError(f"the answer does not announce {SERVICE!r} (not Git's smart HTTP)")
    for line in lines[1:]:
        commit, _, name = line.partition(" ")
        if not COMMIT.fullmatch(commit) or not name:
            raise GitRemoteError(f"the answer holds {line[:60]!r}, not a reference")
        refs[name] = commit
    return refs


def _connection(inventory: Inventory, git: GitSource, password: str | None) -> tuple[httpx.Client, str, str]:
    """A client verifying TLS against the inventory's CA bundle, the base URL it sends to (`git.address` when the
    inventory gives it) and the repository as the messages name it."""
    url = urlparse(git.repository)
    bundle = inventory.settings.ca_bundle
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(bundle)) if bundle else True
    target = f"{url.scheme}://{git.address}{':' + str(url.port) if url.port else ''}" if git.address else \
        f"{url.scheme}://{url.netloc}"
    auth = httpx.BasicAuth(git.username, password or "") if git.username else None
    where = f"{git.repository}" + (f" (at {git.address})" if git.address else "")
    client = httpx.Client(verify=verify, timeout=inventory.settings.connect_timeout * 3, auth=auth,
                          headers={"Host": url.netloc})
    return client, f"{target}{url.path.rstrip('/')}", where


def _sni(git: GitSource) -> dict[str, Any]:
    return {"sni_hostname": urlparse(git.repository).hostname or ""}


def ref_commit(inventory: Inventory, git: GitSource | None = None, password: str | None = None) -> str:
    """The commit `git.ref` points at on the Git server; GitRemoteError naming the URL when it cannot tell."""
    git = git or inventory.git
    if git is None:
        raise GitRemoteError("the inventory has no `git:` section")
    client, base, where = _connection(inventory, git, password)
    try:
        with client:
            answer = client.get(f"{base}/info/refs", params={"service": "git-upload-pack"},
                                headers={"Git-Protocol": "version=0"}, extensions=_sni(git))
    except httpx.HTTPError as exc:
        raise GitRemoteError(f"{where}: no answer ({type(exc).__name__}: {exc})") from None
    if answer.status_code != 200:
        raise GitRemoteError(f"{where}: HTTP {answer.status_code} to the ref discovery (a private repository needs "
                             "git.username and git.password_secret)")
    refs = advertised_refs(answer.content)
    if not refs:
        raise GitRemoteError(f"{where}: the answer advertises no references (not Git's smart HTTP, or empty)")
    if git.ref not in refs:
        raise GitRemoteError(f"{where}: no {git.ref} (it has {', '.join(sorted(refs)[:5])})")
    return refs.get(git.ref + "^{}", refs[git.ref])  # an annotated tag: the commit it points at


class _Answer:
    """What dulwich's HTTP client reads of a response (AbstractHttpGitClient._http_request)."""

    def __init__(self, response: httpx.Response) -> None:
        self.status = response.status_code
        self.content_type = response.headers.get("Content-Type")
        self.redirect_location = ""
        self.headers = response.headers

    def close(self) -> None:  # the body is read already
        pass


def file_at(inventory: Inventory, git: GitSource, commit: str, path: str, password: str | None = None) -> bytes:
    """The file `path` of `commit` on the Git server: a shallow fetch of that one commit over smart HTTP (git
    upload-pack, by dulwich), through the same verified connection as `ref_commit`. GitRemoteError naming the
    URL when it cannot be read."""
    from dulwich.client import AbstractHttpGitClient
    from dulwich.errors import GitProtocolError
    from dulwich.objects import Blob, Tree
    from dulwich.repo import MemoryRepo

    client, base, where = _connection(inventory, git, password)

    class Client(AbstractHttpGitClient):
        def _http_request(self, url: str, headers: dict[str, str] | None = None,
                          data: Any = None) -> tuple[_Answer, Any]:
            body = data if data is None or isinstance(data, bytes) else b"".join(data)
            response = client.request("GET" if body is None else "POST", url, headers=headers or {}, content=body,
                                      extensions=_sni(git))
            if response.status_code != 200:
                raise GitProtocolError(f"HTTP {response.status_code} for {url}")
            stream = io.BytesIO(response.content)
            return _Answer(response), stream.read

    def wants(refs: Any, depth: int | None = None) -> list[bytes]:
        return [commit.encode()]

    repo = MemoryRepo()
    try:
        with client:
            Client(base).fetch(base, repo, determine_wants=wants, depth=1)  # type: ignore[arg-type]
        if commit.encode() not in repo:
            raise GitRemoteError(f"{where}: the server did not send commit {commit[:7]}")
        obj = repo[commit.encode()]
        tree = repo[obj.tree]
        for part in path.split("/"):
            if not isinstance(tree, Tree):
                raise GitRemoteError(f"{where}: {path} at {commit[:7]} is not a file")
            _, sha = tree[part.encode()]
            tree = repo[sha]
    except KeyError:
        raise GitRemoteError(f"{where}: commit {commit[:7]} has no {path}") from None
    except GitRemoteError:
        raise
    except Exception as exc:  # whatever the server sends ends as one line, never a traceback
        raise GitRemoteError(f"{where}: fetching {commit[:7]} failed ({type(exc).__name__}: {exc})") from None
    if not isinstance(tree, Blob):
        raise GitRemoteError(f"{where}: {path} at {commit[:7]} is not a file")
    return bytes(tree.data)
