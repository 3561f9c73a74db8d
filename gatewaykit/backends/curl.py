"""Run the real ``curl`` binary the way Istio's docs write it.

Commands are executed by ``bash`` so that doc-style quoting and ``$VARS`` work verbatim
(``curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"``).
``curl`` inside the command is a shell function that calls the real binary with:

* ``-q`` first, so a learner's ``~/.curlrc`` cannot change what they see;
* for in-mesh calls (``source="default/curl"``), one ``--connect-to HOST:PORT:127.0.0.1:REAL``
  per name the cluster's DNS knows. ``--connect-to`` keeps the URL's Host header and TLS SNI and
  only changes where the TCP connection goes -- exactly what the sidecar's iptables capture does
  to a pod's outbound connection, so the emulated sidecar sees the request the app sent.

Names the cluster DNS does not know fail as DNS does (curl exit 6, ``Could not resolve host``):
curl is run in an empty network namespace (``unshare -n``; ``-rn`` when not root), where no
name resolves and nothing can leave the machine.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gatewaykit.backends.base import CurlResult, parse_curl_output
from gatewaykit.errors import SandboxError

__all__ = [
    "ConnectTo",
    "curl_env",
    "curl_function",
    "nc_function",
    "nc_targets",
    "resolve_overrides",
    "run_curl",
    "url_hosts",
]

# Proxy variables would silently route the learner's curl elsewhere.
_SCRUB = {
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CURL_HOME",
}

_URL_RE = re.compile(
    r"^(?:(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*)://)?(?P<host>\[[^\]]+\]|[^/:?#]+)(?::(?P<port>\d+))?"
)


@dataclass(frozen=True, slots=True)
class ConnectTo:
    """One ``--connect-to`` rule: connections for ``host:port`` go to ``127.0.0.1:real_port``."""

    host: str
    port: int
    real_port: int
    real_host: str = "127.0.0.1"

    def arg(self) -> str:
        """The ``--connect-to`` argument value."""
        return f"{self.host}:{self.port}:{self.real_host}:{self.real_port}"


def _expand(command: str, env: Mapping[str, str]) -> list[str]:
    """Split a command like the shell would, expanding ``$VAR``/``${VAR}`` from ``env``.

    Shell operators (``;``, ``|``, ``&&``, ``(``...) become tokens of their own, so a script such as
    ``for i in 1 2; do curl http://a/; done`` separates ``curl``'s arguments from ``done``.
    """

    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return env.get(name, "")

    expanded = re.sub(r"\$\{(\w+)\}|\$(\w+)", sub, command)
    lexer = shlex.shlex(expanded, posix=True, punctuation_chars=";&|()<>")
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:
        return expanded.split()


def url_hosts(command: str, env: Mapping[str, str]) -> list[tuple[str, int, str]]:
    """Return ``(host, port, scheme)`` for every URL a curl command would fetch.

    Only arguments of ``curl`` itself are considered; option values are skipped.
    """
    args = _expand(command, env)
    out: list[tuple[str, int, str]] = []
    takes_value = {
        "-H",
        "--header",
        "-o",
        "--output",
        "-d",
        "--data",
        "--resolve",
        "--connect-to",
        "--cacert",
        "--cert",
        "--key",
        "-u",
        "--user",
        "-X",
        "--request",
        "-A",
        "--user-agent",
        "-e",
        "--referer",
        "-m",
        "--max-time",
        "--connect-timeout",
        "-w",
        "--write-out",
        "-x",
        "--proxy",
        "--data-raw",
        "--data-binary",
        "-F",
        "--form",
        "-b",
        "--cookie",
        "-c",
        "--cookie-jar",
        "-D",
        "--dump-header",
        "-T",
        "--upload-file",
        "-r",
        "--range",
        "--retry",
        "--capath",
        "--ciphers",
        "--tls-max",
        "--max-redirs",
        "--interface",
        "--local-port",
        "--url",
        "-K",
        "--config",
        "--key-type",
        "--cert-type",
        "--pinnedpubkey",
        "--expect100-timeout",
        "--retry-delay",
        "--retry-max-time",
    }
    in_curl = False
    skip = False
    for arg in args:
        if arg and set(arg) <= set(";&|()<>"):
            in_curl = False
            continue
        if arg == "curl" or arg.endswith("/curl"):
            in_curl = True
            continue
        if not in_curl:
            continue
        if skip:
            skip = False
            continue
        if arg in takes_value:
            skip = arg != "--url"
            continue
        if arg.startswith("-"):
            continue
        m = _URL_RE.match(arg)
        if not m or not m.group("host"):
            continue
        scheme = (m.group("scheme") or "http").lower()
        if scheme not in ("http", "https"):
            continue
        port = int(m.group("port") or (443 if scheme == "https" else 80))
        out.append((m.group("host").strip("[]"), port, scheme))
    return out


def resolve_overrides(command: str, env: Mapping[str, str]) -> dict[tuple[str, int], str]:
    """``--resolve HOST:PORT:ADDR`` of a curl command: ``(host, port) -> first address``.

    curl connects to ADDR instead of resolving HOST (the sni-passthrough task's
    ``--resolve nginx.example.com:443:127.0.0.1``); ``+HOST`` (lazy) and ``[v6]`` are curl's forms.
    """
    args = _expand(command, env)
    out: dict[tuple[str, int], str] = {}
    for i, arg in enumerate(args):
        value = args[i + 1] if arg == "--resolve" and i + 1 < len(args) else ""
        if arg.startswith("--resolve="):
            value = arg.split("=", 1)[1]
        m = re.fullmatch(r"\+?(\[[^\]]+\]|[^:]+):(\d+):\[?([^],]+)\]?(?:,.*)?", value)
        if m:
            out[(m.group(1).strip("[]").lower(), int(m.group(2)))] = m.group(3)
    return out


#: busybox nc's options that take a value (networking/nc.c, nc_bloaty.c).
_NC_VALUE_OPTIONS = {"-w", "-i", "-s", "-p", "-e", "-W", "-q"}


def nc_targets(command: str, env: Mapping[str, str]) -> list[tuple[str, int, str]]:
    """``(host, port, "tcp")`` for every ``nc HOST PORT`` of a script (busybox nc's usage)."""
    args = _expand(command, env)
    out: list[tuple[str, int, str]] = []
    for i, arg in enumerate(args):
        if arg != "nc" and not arg.endswith("/nc"):
            continue
        positional: list[str] = []
        j = i + 1
        while j < len(args) and len(positional) < 2 and not set(args[j]) <= set(";&|()<>"):
            if args[j] in _NC_VALUE_OPTIONS:
                j += 2
                continue
            if not args[j].startswith("-"):
                positional.append(args[j])
            j += 1
        if len(positional) == 2 and positional[1].isdigit():
            out.append((positional[0].strip("[]"), int(positional[1]), "tcp"))
    return out


def nc_function(connect_to: Iterable[ConnectTo] = ()) -> str:
    """The bash function ``nc() {...}``: busybox nc's stand-in (:mod:`gatewaykit.backends._nc`)
    with the pod's connection rules, for ``kubectl exec ... -- sh -c "... | nc HOST PORT"``."""
    rules = " ".join(shlex.quote(rule.arg()) for rule in connect_to)
    python = shlex.quote(sys.executable)
    return f"nc() {{ {python} -m gatewaykit.backends._nc {rules} -- \"$@\"; }}\n"


def _unshare_prefix() -> list[str] | None:
    """The command prefix that runs curl in an empty network namespace, or None if unavailable."""
    unshare = shutil.which("unshare")
    if not unshare:
        return None
    flags = "-n" if os.geteuid() == 0 else "-rn"
    probe = subprocess.run([unshare, flags, "true"], capture_output=True)
    return [unshare, flags] if probe.returncode == 0 else None


_UNSHARE: list[str] | None | bool = False


def curl_function(connect_to: Iterable[ConnectTo] = (), *, isolate_dns: bool = False) -> str:
    """The bash function ``curl() {...}`` that calls the real binary with the sandbox's options.

    ``-q`` first (a learner's ``~/.curlrc`` cannot change what they see), one ``--connect-to`` per
    in-mesh rule, and -- for a URL the cluster DNS cannot resolve -- an empty network namespace.
    """
    global _UNSHARE
    extra = ["-q"] + [a for rule in connect_to for a in ("--connect-to", rule.arg())]
    prefix = ""
    if isolate_dns:
        if _UNSHARE is False:
            _UNSHARE = _unshare_prefix()
        if isinstance(_UNSHARE, list):
            prefix = " ".join(shlex.quote(p) for p in _UNSHARE) + " "
        else:
            # No network namespaces here: point every connection at a name that cannot resolve.
            extra += ["--connect-to", "::nxdomain.invalid:1"]
    # `command curl` skips this function; under unshare the binary's path is needed (`command`
    # is a shell builtin, not something unshare can execute).
    binary = shlex.quote(shutil.which("curl") or "curl") if prefix else "command curl"
    return "curl() { " + prefix + binary + " " + " ".join(shlex.quote(a) for a in extra) + ' "$@"; }\n'


def curl_env(env: Mapping[str, str], ca_bundle: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """The process environment for a doc-style command: this process's, scrubbed, plus ``env``."""
    run_env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    run_env.update(env)
    if ca_bundle is not None:
        run_env["CURL_CA_BUNDLE"] = os.fspath(ca_bundle)
    return run_env


def run_curl(
    command: str,
    *,
    env: Mapping[str, str],
    cwd: str | os.PathLike[str] | None = None,
    connect_to: Iterable[ConnectTo] = (),
    isolate_dns: bool = False,
    ca_bundle: str | os.PathLike[str] | None = None,
    timeout: float = 30.0,
) -> CurlResult:
    """Run a doc-style curl command with the real curl binary and capture what it printed.

    Args:
        command: the command as written in Istio's docs; may use ``$INGRESS_HOST`` etc.
        env: variables the command may reference (``sb.env``).
        cwd: working directory (where ``--cacert example_certs1/example.com.crt`` is resolved).
        connect_to: in-mesh rules that send a host:port to the emulated sidecar.
        isolate_dns: run curl where no name resolves (the URL names a host the mesh's DNS
            does not know): curl fails with exit 6 as in a pod.
        ca_bundle: the CA bundle curl trusts by default (``CURL_CA_BUNDLE``), for in-mesh runs:
            the public CAs of the pod's image plus the fake internet's public CA. The learner's
            command is unchanged; an explicit ``--cacert`` still wins, as in a real pod.
        timeout: seconds before curl is killed (exit code 28 is reported, like ``--max-time``).

    Returns:
        The :class:`CurlResult` with curl's exact exit code, stdout and stderr.
    """
    if shutil.which("curl") is None:
        raise SandboxError("the real `curl` binary is needed: install it (apt-get install curl)")
    script = curl_function(connect_to, isolate_dns=isolate_dns) + command
    try:
        proc = subprocess.run(
            ["bash", "-c", script],
            env=curl_env(env, ca_bundle),
            cwd=cwd,
            capture_output=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        code = 28
        out = exc.stdout or b""
        err = (exc.stderr or b"") + f"\ncurl: (28) gatewaykit stopped curl after {timeout:g} s\n".encode()
    return parse_curl_output(command, code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
