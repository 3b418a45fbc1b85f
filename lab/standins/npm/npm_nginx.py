"""Real nginx driven by the API: one server block per enabled proxy host, `nginx -t` then reload on every change.

Layout under the data directory, as NPM's: nginx/proxy_host/<id>.conf (a host whose config fails `nginx -t`
is kept as <id>.conf.err), custom_ssl/npm-<id>/{fullchain,privkey}.pem, access/<id> (an access list's htpasswd
file). The stand-in runs nginx itself (daemon off) and restarts it if it dies; without an nginx binary the API
still works and says so in `meta`.

Longer than 300 lines because the server blocks it writes follow upstream's templates (proxy_host.conf, _ssl.conf,
_hsts.conf, _access.conf at 2.12.6) line for line, and the templates and the process that serves them belong
together.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from npm_store import Row

TEST_TIMEOUT = 20
PROTOCOLS = "TLSv1.2 TLSv1.3"  # TLS 1.0 and 1.1 are refused
# NPM's TLS settings live in a file of its image, not in its database (docker/rootfs/etc/nginx/conf.d/include/
# ssl-ciphers.conf at v2.12.6): an edit there survives a restart, not a new container. Where the file exists (the
# image), nginx reads the protocols from it; elsewhere (the selftests on loopback) from PROTOCOLS.
SSL_CIPHERS = Path(os.environ.get("NPM_SSL_CIPHERS", "/etc/nginx/conf.d/include/ssl-ciphers.conf"))


def tls_settings() -> str:
    return f"include {SSL_CIPHERS};" if SSL_CIPHERS.is_file() else f"ssl_protocols {PROTOCOLS};"
ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Listen:
    bind: str
    http_port: int
    https_port: int

    def http(self) -> str:
        return f"{self._host()}{self.http_port}"

    def https(self) -> str:
        return f"{self._host()}{self.https_port} ssl"

    def _host(self) -> str:
        if self.bind in ("", "0.0.0.0", "*"):  # noqa: S104 - comparing, not binding
            return ""
        return f"[{self.bind}]:" if ":" in self.bind else f"{self.bind}:"


@dataclass(frozen=True)
class Access:
    """What NPM 2.12.6's templates/_access.conf renders into each location of a host with an access list.

    `clients` are (directive, address) in the list's order; `user_file` is the htpasswd file, set only when
    the list has users (items); `clear_authorization` is NPM's `proxy_set_header Authorization "";` condition.
    """

    clients: tuple[tuple[str, str], ...] = ()
    user_file: Path | None = None
    clear_authorization: bool = False
    satisfy_any: bool = False

    @classmethod
    def of(cls, access_list: dict[str, Any] | None, user_file: Path, version: tuple[int, int, int]) -> Access:
        """From an access-list row; a host whose list is gone gets NPM's block with no rules: `deny all`.

        NPM 2.12.2 to 2.13.2 test `pass_auth == 0 or pass_auth == true` on a boolean under liquidjs's strict
        `==`, so the header is cleared when pass_auth is *true*; 2.13.3 fixed the test (`== false`).
        """
        if access_list is None:
            return cls()
        pass_auth = bool(access_list.get("pass_auth"))
        clients = tuple((str(c.get("directive") or ""), str(c.get("address") or ""))
                        for c in access_list.get("clients") or [])
        return cls(clients=clients, user_file=user_file if access_list.get("items") else None,
                   clear_authorization=pass_auth if version < (2, 13, 3) else not pass_auth,
                   satisfy_any=bool(access_list.get("satisfy_any")))

    def lines(self) -> list[str]:
        """The directives, in _access.conf's order (a client missing directive or address renders nothing)."""
        lines: list[str] = []
        if self.user_file is not None:
            lines += ["# Authorization", 'auth_basic "Authorization required";',
                      f"auth_basic_user_file {self.user_file};"]
            if self.clear_authorization:
                lines.append('proxy_set_header Authorization "";')
        lines.append(f"# Access Rules: {len(self.clients)} total")
        lines += [f"{directive} {address};" for directive, address in self.clients if directive and address]
        lines += ["deny all;", "# Access checks must...", f"satisfy {'any' if self.satisfy_any else 'all'};"]
        return lines


def apr1(password: str, salt: str | None = None) -> str:
    """Apache's `$apr1$` MD5-crypt, what NPM writes with `openssl passwd -apr1` and nginx checks itself."""
    pw = password.encode()
    salt_bytes = (salt or "".join(secrets.choice(ITOA64) for _ in range(8))).encode()[:8]

    def md5(data: bytes) -> bytes:
        return hashlib.md5(data).digest()  # noqa: S324 - $apr1$ is MD5 by definition

    alternate = md5(pw + salt_bytes + pw)
    context = pw + b"$apr1$" + salt_bytes + (alternate * (len(pw) // 16 + 1))[:len(pw)]
    length = len(pw)
    while length:
        context += b"\0" if length & 1 else pw[:1]
        length >>= 1
    digest = md5(context)
    for round_ in range(1000):
        data = pw if round_ & 1 else digest
        data += salt_bytes if round_ % 3 else b""
        data += pw if round_ % 7 else b""
        data += digest if round_ & 1 else pw
        digest = md5(data)
    groups = ((0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5))
    encoded = "".join(_to64(digest[a] << 16 | digest[b] << 8 | digest[c], 4) for a, b, c in groups)
    encoded += _to64(digest[11], 2)
    return f"$apr1${salt_bytes.decode()}${encoded}"


def _to64(value: int, count: int) -> str:
    chars = ""
    for _ in range(count):
        chars += ITOA64[value & 0x3F]
        value >>= 6
    return chars


def resolvers(resolv_conf: Path = Path("/etc/resolv.conf")) -> list[str]:
    """Name servers for the `resolver` directive, so forward hosts may be names (Docker's 127.0.0.11 in the lab)."""
    found: list[str] = []
    if resolv_conf.exists():
        for line in resolv_conf.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                found.append(f"[{parts[1]}]" if ":" in parts[1] else parts[1])
    return found


def main_conf(root: Path, listen: Listen, ipv6: bool) -> str:
    temp = root / "nginx" / "temp"
    names = resolvers()
    resolver = f"resolver {' '.join(names)} valid=10s{'' if ipv6 else ' ipv6=off'};" if names else ""
    # NPM's workers run as its `npm` user, uid PUID (default 0): root, which can read every htpasswd file
    workers = "user root;\n" if os.geteuid() == 0 else ""
    return f"""# Written by the NPM stand-in at every start.
{workers}worker_processes 2;
pid {root}/nginx/nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    server_tokens off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    {tls_settings()}
    proxy_http_version 1.1;
    {resolver}
    server {{
        listen {listen.http()} default_server;
        server_name _;
        return 404;
    }}
    server {{
        listen {listen.https()} default_server;
        server_name _;
        ssl_reject_handshake on;
    }}
    include {root}/nginx/proxy_host/*.conf;
}}
"""


def _upstream(host: str) -> str:
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host


def _location(path: str, target: Row, websocket: bool, extra: str, access: Access | None) -> str:
    lines = [f"    location {path} {{"]
    if access is not None:  # NPM includes _access.conf in `location /` and in every custom location
        lines += [f"        {line}" for line in access.lines()]
    lines += [
             f"        set $forward_scheme {target['forward_scheme']};",
             f'        set $server "{_upstream(str(target["forward_host"]))}";',
             f"        set $port {int(target['forward_port'])};",
             "        proxy_set_header Host $host;",
             "        proxy_set_header X-Forwarded-Scheme $scheme;",
             "        proxy_set_header X-Forwarded-Proto $scheme;",
             "        proxy_set_header X-Forwarded-For $remote_addr;",
             "        proxy_set_header X-Real-IP $remote_addr;"]
    if websocket:
        lines += ["        proxy_set_header Upgrade $http_upgrade;",
                  "        proxy_set_header Connection $http_connection;"]
    if extra:
        lines.append(f"        {extra}")
    lines += ["        proxy_pass $forward_scheme://$server:$port$request_uri;", "    }"]
    return "\n".join(lines)


def host_conf(host: Row, cert_dir: Path | None, listen: Listen, access: Access | None = None) -> str:
    """The server block of one proxy host (TLS only when its certificate's files exist; `access` when the host
    has an access list: `access_list_id > 0` in NPM's template)."""
    lines = [f"# proxy host {host['id']}: {', '.join(host['domain_names'])} (written by the NPM stand-in)",
             "server {", f"    listen {listen.http()};"]
    if cert_dir is not None:
        lines += [f"    listen {listen.https()};", f"    ssl_certificate {cert_dir}/fullchain.pem;",
                  f"    ssl_certificate_key {cert_dir}/privkey.pem;"]
    lines.append(f"    server_name {' '.join(host['domain_names'])};")
    if cert_dir is not None and host["ssl_forced"]:
        lines.append('    if ($scheme = "http") { return 301 https://$host$request_uri; }')
    if cert_dir is not None and host["hsts_enabled"]:
        sub = "; includeSubDomains" if host["hsts_subdomains"] else ""
        lines.append(f'    add_header Strict-Transport-Security "max-age=63072000{sub}; preload" always;')
    if host["advanced_config"]:
        lines.append(host["advanced_config"])
    for location in host["locations"] or []:
        lines.append(_location(location["path"], location, host["allow_websocket_upgrade"],
                               location.get("advanced_config", ""), access))
    lines += [_location("/", host, host["allow_websocket_upgrade"], "", access), "}", ""]
    return "\n".join(lines)


class Nginx:
    """nginx as a child process, configured from the data directory."""

    def __init__(self, root: Path, listen: Listen, binary: str = "nginx", ipv6: bool = True) -> None:
        self.root, self.listen = root, listen
        self.binary = shutil.which(binary)
        self.hosts_dir = root / "nginx" / "proxy_host"
        self.access_dir = root / "access"
        self.conf = root / "nginx" / "nginx.conf"
        self.process: subprocess.Popen[bytes] | None = None
        self.stopping = False
        self.lock = threading.Lock()
        for sub in ("proxy_host", "temp"):
            (root / "nginx" / sub).mkdir(parents=True, exist_ok=True)
        self.access_dir.mkdir(exist_ok=True)
        self.conf.write_text(main_conf(root, listen, ipv6))

    @property
    def available(self) -> bool:
        return self.binary is not None

    def _args(self, *extra: str) -> list[str]:
        return [str(self.binary), "-p", str(self.root / "nginx"), "-c", str(self.conf), "-e", "stderr", *extra]

    def test(self) -> str | None:
        """None when `nginx -t` accepts the configuration, else its complaint."""
        if self.binary is None:
            return "nginx is not installed in this stand-in"
        result = subprocess.run(self._args("-t", "-q"), capture_output=True, timeout=TEST_TIMEOUT, check=False)
        return None if result.returncode == 0 else result.stderr.decode(errors="replace").strip()

    def access_file(self, list_id: int) -> Path:
        return self.access_dir / str(list_id)

    def write_access_file(self, list_id: int, entries: list[str]) -> Path:
        """An access list's htpasswd file (`user:$apr1$...` lines), rewritten whole as NPM's build() does."""
        path = self.access_file(list_id)
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(f"{entry}\n" for entry in entries))
        tmp.chmod(0o644)  # nginx's workers read it
        tmp.replace(path)
        return path

    def remove_access_file(self, list_id: int) -> None:
        self.access_file(list_id).unlink(missing_ok=True)

    def write_host(self, host: Row, cert_dir: Path | None, access: Access | None = None) -> dict[str, Any]:
        """Write (or remove, if disabled) one host's config, test it, reload; answer NPM's nginx meta."""
        with self.lock:
            conf, failed = self.hosts_dir / f"{host['id']}.conf", self.hosts_dir / f"{host['id']}.conf.err"
            failed.unlink(missing_ok=True)
            if not host["enabled"]:
                conf.unlink(missing_ok=True)
                self.reload()
                return {"nginx_online": True, "nginx_err": None}
            conf.write_text(host_conf(host, cert_dir, self.listen, access))
            problem = self.test()
            if problem is not None and self.binary is not None:
                conf.rename(failed)
            self.reload()
            return {"nginx_online": problem is None, "nginx_err": problem}

    def remove_host(self, host_id: int) -> None:
        with self.lock:
            for path in (self.hosts_dir / f"{host_id}.conf", self.hosts_dir / f"{host_id}.conf.err"):
                path.unlink(missing_ok=True)
            self.reload()

    def start(self) -> None:
        if self.binary is None:
            print("npm stand-in: nginx not found; serving the API only", flush=True)
            return
        problem = self.test()
        if problem:
            raise SystemExit(f"nginx rejects the generated configuration: {problem}")
        self.process = subprocess.Popen(self._args("-g", "daemon off;"))
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while not self.stopping:
            process = self.process
            if process is not None and process.poll() is not None and not self.stopping:
                print(f"npm stand-in: nginx exited with {process.returncode}; restarting", flush=True)
                time.sleep(1)
                self.process = subprocess.Popen(self._args("-g", "daemon off;"))
            time.sleep(0.5)

    def reload(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        self.stopping = True
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
