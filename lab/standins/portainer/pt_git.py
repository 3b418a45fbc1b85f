"""Git for stacks (api/git/git.go, api/git/service.go at 2.23.0): a depth-1 clone of one reference into the
stack's project folder (no .git kept, as NewGitClient(false)) and the latest commit of a reference.

Transport is dulwich (Debian's python3-dulwich), imported lazily. HTTPS verifies against the system CAs plus
the file named by GIT_SSL_CAINFO / SSL_CERT_FILE (lab only: the lab CA); TLSSkipVerify turns verification off.
Error texts follow go-git v5.11 as Portainer shows them (see README.md, "Git stacks").
"""

from __future__ import annotations

import os
import shutil
import ssl
import stat
import urllib.parse
from pathlib import Path
from typing import Any


class GitError(Exception):
    """A clone or ls-remote failure worded as go-git words it."""


class AuthenticationError(GitError):
    """gittypes.ErrAuthenticationFailure (go-git's "authentication required")."""

    def __init__(self) -> None:
        super().__init__("authentication failed, please ensure that the git credentials are correct")


def _ssl_context(skip_verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    system = ssl.get_default_verify_paths()  # OpenSSL's own bundle: SSL_CERT_FILE would replace it, not add to it
    if system.openssl_cafile and Path(system.openssl_cafile).is_file():
        context.load_verify_locations(cafile=system.openssl_cafile)
    for variable in ("GIT_SSL_CAINFO", "SSL_CERT_FILE"):
        extra = os.environ.get(variable, "")
        if extra and Path(extra).is_file():
            context.load_verify_locations(cafile=extra)
    if skip_verify:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context


def _client(url: str, username: str, password: str, skip_verify: bool) -> tuple[Any, str]:
    """(dulwich client, path) for `url`; http(s) through a pool that verifies TLS as described above."""
    from dulwich.client import HttpGitClient, get_transport_and_path

    if password and not username:
        username = "token"  # getAuth in api/git/git.go
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in ("http", "https"):
        import urllib3

        pool = urllib3.PoolManager(ssl_context=_ssl_context(skip_verify), retries=False, timeout=30.0,
                                   cert_reqs="CERT_NONE" if skip_verify else "CERT_REQUIRED")
        auth = {"username": username, "password": password} if password else {}
        return HttpGitClient(url, pool_manager=pool, **auth), parts.path
    client, path = get_transport_and_path(url)
    return client, path


def _go_reason(exc: BaseException) -> str:
    """The tail of Go's *url.Error for a transport failure, as near as Python lets us tell it."""
    cause: BaseException = exc
    while cause.__cause__ is not None or getattr(cause, "reason", None) is not None:
        cause = cause.__cause__ or cause.reason  # type: ignore[attr-defined]
    text = str(cause)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "tls: failed to verify certificate: x509: certificate signed by unknown authority"
    if "Connection refused" in text:
        return "connect: connection refused"
    if "Name or service not known" in text or "Temporary failure in name resolution" in text:
        return "no such host"
    return text


def _wrap(exc: Exception, url: str) -> GitError:
    from dulwich.client import HTTPUnauthorized
    from dulwich.errors import GitProtocolError, NotGitRepository

    if isinstance(exc, HTTPUnauthorized):
        return AuthenticationError()
    if isinstance(exc, NotGitRepository):
        return GitError("repository not found")
    if isinstance(exc, GitProtocolError) and exc.__cause__ is not None:
        host = urllib.parse.urlsplit(url).netloc
        reason = _go_reason(exc)
        detail = f"dial tcp {host}: {reason}" if reason.startswith(("connect:", "no such")) else reason
        return GitError(f'Get "{url}/info/refs?service=git-upload-pack": {detail}')
    return GitError(f"{url}: {exc}")


def _remote_refs(url: str, username: str, password: str, skip_verify: bool) -> dict[bytes, bytes]:
    client, path = _client(url, username, password, skip_verify)
    try:
        result = client.get_refs(path)
    except Exception as exc:  # every transport failure is reported, worded as go-git
        raise _wrap(exc, url) from exc
    refs = getattr(result, "refs", result)
    return dict(refs)


def latest_commit(url: str, ref: str, username: str = "", password: str = "", skip_verify: bool = False) -> str:
    """gitClient.latestCommitID: the hash of `ref` (HEAD's target when empty) on the remote."""
    refs = _remote_refs(url, username, password, skip_verify)
    wanted = ref.encode() if ref else b"HEAD"
    for name, sha in refs.items():
        if name.lower() == wanted.lower():
            return sha.decode()
    raise GitError(f'could not find ref "{ref}" in the repository')


def clone(dest: Path, url: str, ref: str, username: str = "", password: str = "", skip_verify: bool = False) -> str:
    """gitClient.download: check out `ref` (a branch or tag; default HEAD) into `dest`; returns the commit."""
    from dulwich.repo import MemoryRepo

    client, path = _client(url, username, password, skip_verify)
    repo = MemoryRepo()
    wanted = ref.encode() if ref else b"HEAD"
    chosen: list[bytes] = []

    def determine_wants(refs: dict[bytes, bytes], depth: int | None = None) -> list[bytes]:
        sha = refs.get(wanted)  # a full name (refs/heads/main): go-git matches no short names
        if sha is None:
            raise GitError("reference not found")
        chosen.append(sha)
        return [sha]

    try:
        depth = 1 if url.startswith(("http://", "https://")) else None
        client.fetch(path, repo, determine_wants=determine_wants, depth=depth)
    except GitError:
        raise
    except Exception as exc:
        raise _wrap(exc, url) from exc
    commit = repo[chosen[0]]
    while commit.type_name == b"tag":  # an annotated tag: peel to its commit
        commit = repo[commit.object[1]]
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    _write_tree(repo, commit.tree, dest)
    return str(commit.id.decode())


def _write_tree(repo: Any, tree_id: bytes, into: Path) -> None:
    for entry in repo[tree_id].iteritems():
        target = into / entry.path.decode()
        if stat.S_ISDIR(entry.mode):
            target.mkdir()
            _write_tree(repo, entry.sha, target)
        elif stat.S_ISLNK(entry.mode):
            target.symlink_to(repo[entry.sha].data.decode())
        elif stat.S_ISREG(entry.mode):
            target.write_bytes(repo[entry.sha].data)
            target.chmod(0o755 if entry.mode & 0o111 else 0o644)
        # gitlinks (submodules) are skipped: go-git's clone does not recurse by default either
