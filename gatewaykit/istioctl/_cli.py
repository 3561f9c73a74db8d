"""Command line: cobra-style flags, the command tree, and istioctl's exit codes.

Exit codes are ``istioctl/cmd/sysexits.go``'s: 1 for errors, 64 for usage errors (unknown command or
flag), 65 for files ``analyze`` could not parse, 79 when ``analyze`` found issues. Errors print as
cobra prints them: ``Error: <message>`` on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

__all__ = ["CommandError", "Flags", "Streams", "UsageError", "main"]

EXIT_ERROR, EXIT_USAGE, EXIT_DATA, EXIT_ISSUES = 1, 64, 65, 79


class CommandError(Exception):
    """A command failed: cobra prints ``Error: <message>`` and istioctl exits with ``code``."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


class UsageError(CommandError):
    """A command line istioctl cannot parse (``util.CommandParseError``): exit 64."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_USAGE)


@dataclass
class Streams:
    """Where a command writes (and reads ``-`` from)."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    inp: TextIO = field(default_factory=lambda: sys.stdin)


@dataclass(frozen=True, slots=True)
class Flag:
    """One flag: its long name, shorthand, kind (``bool``, ``str``, ``int``, ``list``) and default."""

    name: str
    short: str = ""
    kind: str = "str"
    default: Any = None


#: Flags every command takes (istioctl/pkg/cli/options.go ``AddRootFlags``).
ROOT_FLAGS = (
    Flag("kubeconfig", "c"),
    Flag("context"),
    Flag("namespace", "n"),
    Flag("istioNamespace", "i", default="istio-system"),
    Flag("vklog", kind="int", default=0),
)


class Flags(dict[str, Any]):
    """Parsed flag values by long name, plus the positional arguments and the command's path."""

    args: list[str]
    path: list[str]


def parse(argv: Sequence[str], flags: Sequence[Flag]) -> Flags:
    """Parse ``argv`` like pflag: ``--x=v``, ``--x v``, ``-x v``, ``-xv``, ``-y``, ``--b=false``.

    Raises:
        UsageError: an unknown flag or a missing value (pflag's texts).
    """
    known = {f.name: f for f in (*ROOT_FLAGS, *flags)}
    shorts = {f.short: f for f in known.values() if f.short}
    out = Flags({name: ([] if f.kind == "list" else f.default) for name, f in known.items()})
    out.args = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            out.args += list(argv[i:])
            break
        if arg.startswith("--") and len(arg) > 2:
            name, eq, value = arg[2:].partition("=")
            flag = known.get(name)
            if flag is None:
                raise UsageError(f"unknown flag: --{name}")
            if not eq and flag.kind != "bool":
                if i >= len(argv):
                    raise UsageError(f"flag needs an argument: --{name}")
                value, i = argv[i], i + 1
            _set(out, flag, value if eq or flag.kind != "bool" else "true", f"--{name}")
        elif arg.startswith("-") and len(arg) > 1:
            i = _shorts(arg[1:], argv, i, shorts, out)
        else:
            out.args.append(arg)
    return out


def _shorts(group: str, argv: Sequence[str], i: int, shorts: dict[str, Flag], out: Flags) -> int:
    j = 0
    while j < len(group):
        c = group[j]
        flag = shorts.get(c)
        if flag is None:
            raise UsageError(f"unknown shorthand flag: '{c}' in -{group}")
        rest = group[j + 1 :]
        if flag.kind == "bool":
            if rest.startswith("="):
                _set(out, flag, rest[1:], f"-{c}")
                return i
            _set(out, flag, "true", f"-{c}")
            j += 1
            continue
        if rest:
            _set(out, flag, rest[1:] if rest.startswith("=") else rest, f"-{c}")
            return i
        if i >= len(argv):
            raise UsageError(f"flag needs an argument: '{c}' in -{c}")
        _set(out, flag, argv[i], f"-{c}")
        return i + 1
    return i


def _set(out: Flags, flag: Flag, value: str, shown: str) -> None:
    if flag.kind == "bool":
        if value.lower() not in ("true", "false", "1", "0", "t", "f"):
            raise UsageError(
                f'invalid argument "{value}" for "{shown}" flag: strconv.ParseBool: parsing "{value}": '
                "invalid syntax"
            )
        out[flag.name] = value.lower() in ("true", "1", "t")
    elif flag.kind == "int":
        try:
            out[flag.name] = int(value)
        except ValueError:
            raise UsageError(
                f'invalid argument "{value}" for "{shown}" flag: strconv.ParseInt: parsing "{value}": '
                "invalid syntax"
            ) from None
    elif flag.kind == "list":
        out[flag.name] = [*out[flag.name], value]
    elif flag.kind == "slice":  # pflag StringSlice: comma-separated values accumulate
        out[flag.name] = [*(out.get(flag.name) or []), *value.split(",")]
    else:
        out[flag.name] = value


@dataclass(frozen=True, slots=True)
class Command:
    """A (sub)command: names, its flags and what runs it (``run(flags, streams) -> exit code``)."""

    names: tuple[str, ...]
    flags: tuple[Flag, ...] = ()
    run: Callable[[Flags, Streams], int] | None = None
    children: tuple[Command, ...] = ()
    summary: str = ""


def _lazy(module: str, func: str) -> Callable[[Flags, Streams], int]:
    """A runner imported on first use (keeps ``istioctl version`` fast)."""

    def run(flags: Flags, streams: Streams) -> int:
        import importlib  # noqa: PLC0415

        fn = getattr(importlib.import_module(f"gatewaykit.istioctl.{module}"), func)
        return int(fn(flags, streams))

    return run


_OUTPUT = Flag("output", "o", default="short")
_FILE = Flag("file", "f", default="")
_PC_COMMON = (_OUTPUT, _FILE, Flag("proxy-admin-port", kind="int", default=15000))
_INSTALL_FLAGS = (
    Flag("filename", "f", kind="slice"),
    Flag("set", "s", kind="list"),
    Flag("skip-confirmation", "y", kind="bool", default=False),
    Flag("readiness-timeout", default="300s"),
    Flag("force", kind="bool", default=False),
    Flag("verify", kind="bool", default=False),
    Flag("dry-run", kind="bool", default=False),
    Flag("revision", "r", default=""),
    Flag("manifests", "d", default=""),
)


def _proxy_config() -> Command:
    run = _lazy("_proxyconfig", "run_proxy_config")
    filters = (Flag("fqdn"), Flag("direction"), Flag("subset"), Flag("port", kind="int", default=0))
    listen = (
        Flag("address"),
        Flag("type"),
        Flag("port", kind="int", default=0),
        Flag("verbose", kind="bool", default=True),
    )
    return Command(
        ("proxy-config", "pc"),
        _PC_COMMON,
        children=(
            Command(("cluster", "clusters", "c"), (*_PC_COMMON, *filters), run),
            Command(
                ("listener", "listeners", "l"),
                (*_PC_COMMON, *listen, Flag("waypoint", kind="bool", default=False)),
                run,
            ),
            Command(
                ("route", "routes", "r"),
                (*_PC_COMMON, Flag("name"), Flag("verbose", kind="bool", default=True)),
                run,
            ),
            Command(
                ("endpoint", "endpoints", "ep"),
                (
                    *_PC_COMMON,
                    Flag("address"),
                    Flag("port", kind="int", default=0),
                    Flag("cluster"),
                    Flag("status"),
                ),
                run,
            ),
            Command(("secret", "secrets", "s"), _PC_COMMON, run),
            Command(("bootstrap", "b"), (Flag("output", "o", default="json"), _FILE), run),
            Command(
                ("all", "a"),
                (
                    *_PC_COMMON,
                    *filters,
                    Flag("address"),
                    Flag("type"),
                    Flag("name"),
                    Flag("verbose", kind="bool", default=True),
                ),
                run,
            ),
        ),
    )


def _status_flags() -> tuple[Flag, ...]:
    return (
        Flag("output", "o", default=""),
        Flag("verbose", "v", kind="int", default=0),
        Flag("revision", "r", default=""),
    )


def commands() -> Command:
    """The command tree (``istioctl/cmd/root.go``), restricted to what the sandbox implements."""
    describe = Command(
        ("describe", "des"),
        children=(
            Command(
                ("pod", "po"),
                (Flag("ignoreUnmeshed", kind="bool", default=False),),
                _lazy("_describe", "run_describe_pod"),
            ),
        ),
    )
    proxy_status = Command(("proxy-status", "ps"), _status_flags(), _lazy("_proxyconfig", "run_proxy_status"))
    version = Command(
        ("version",),
        (
            Flag("short", "s", kind="bool", default=True),
            Flag("output", "o", default=""),
            Flag("remote", kind="bool", default=True),
            Flag("revision", "r", default=""),
        ),
        _lazy("_version", "run_version"),
    )
    analyze_flags = (
        Flag("all-namespaces", "A", kind="bool", default=False),
        Flag("use-kube", "k", kind="bool", default=True),
        Flag("output", "o", default="log"),
        Flag("color", kind="bool", default=False),
        Flag("verbose", "v", kind="bool", default=False),
        Flag("list-analyzers", "L", kind="bool", default=False),
        Flag("suppress", "S", kind="list"),
        Flag("output-threshold", default="Info"),
        Flag("failure-threshold", default="Error"),
        Flag("ignore-unknown", kind="bool", default=False),
        Flag("recursive", "R", kind="bool", default=False),
        Flag("revision", "r", default="default"),
        Flag("timeout", default="30s"),
        Flag("meshConfigFile", default=""),
    )
    return Command(
        ("istioctl",),
        children=(
            Command(("install", "apply"), _INSTALL_FLAGS, _lazy("_install", "run_install")),
            Command(("upgrade",), _INSTALL_FLAGS, _lazy("_install", "run_upgrade")),
            Command(
                ("uninstall",),
                (
                    Flag("skip-confirmation", "y", kind="bool", default=False),
                    Flag("purge", kind="bool", default=False),
                    Flag("filename", "f", default=""),
                    Flag("set", "s", kind="list"),
                    Flag("revision", "r", default=""),
                    Flag("force", kind="bool", default=False),
                    Flag("verbose", "v", kind="bool", default=False),
                    Flag("dry-run", kind="bool", default=False),
                    Flag("manifests", "d", default=""),
                ),
                _lazy("_install", "run_uninstall"),
            ),
            Command(("analyze",), analyze_flags, _lazy("_analyze", "run_analyze")),
            _proxy_config(),
            proxy_status,
            Command(("experimental", "x", "exp"), children=(describe, proxy_status)),
            Command(
                ("kube-inject",),
                (
                    Flag("filename", "f", default=""),
                    Flag("output", "o", default=""),
                    Flag("revision", "r", default=""),
                    Flag("meshConfigFile", default=""),
                    Flag("injectConfigFile", default=""),
                    Flag("valuesFile", default=""),
                ),
                _lazy("_inject", "run_kube_inject"),
            ),
            version,
        ),
    )


#: istioctl commands this stand-in does not play, with what to use instead.
NOT_MODELLED = {
    "dashboard": "the sandbox runs no Kiali, Grafana or Envoy admin UI; use `istioctl proxy-config` instead",
    "bug-report": "there is no cluster to collect from",
    "manifest": "use `istioctl install` (the sandbox applies what it renders)",
    "tag": "the sandbox runs one revision, `default`",
    "waypoint": "the sandbox does not run ambient mode",
    "ztunnel-config": "the sandbox does not run ambient mode",
    "admin": "the sandbox's istiod is a stand-in with no admin endpoints",
    "create-remote-secret": "the sandbox is a single cluster",
    "validate": "`kubectl apply --dry-run=server` runs the same validation in the sandbox",
}


def _find(root: Command, argv: list[str]) -> tuple[Command, list[str], list[str]]:
    """Walk the command tree: (command, its path names, remaining arguments)."""
    cmd, path, rest = root, ["istioctl"], list(argv)
    while True:
        words = [a for a in rest if not a.startswith("-")]
        if not words or not cmd.children:
            return cmd, path, rest
        word = words[0]
        child = next((c for c in cmd.children if word in c.names), None)
        if child is None:
            return cmd, path, rest
        rest.remove(word)
        cmd, path = child, [*path, child.names[0]]


def main(argv: Sequence[str] | None = None, streams: Streams | None = None) -> int:
    """Run one istioctl command line; returns the exit code."""
    io = streams or Streams()
    args = list(sys.argv[1:] if argv is None else argv)
    root = commands()
    cmd, path, rest = _find(root, args)
    try:
        if any(a in ("-h", "--help") for a in rest) or cmd.run is None:
            return _help(cmd, path, rest, io)
        flags = parse(rest, cmd.flags)
        flags.path = path
        return cmd.run(flags, io)
    except CommandError as exc:
        io.err.write(f"Error: {exc}\n")
        return exc.code
    except KeyboardInterrupt:
        return 130


def _help(cmd: Command, path: list[str], rest: list[str], io: Streams) -> int:
    """Help, or cobra's unknown-command error for a word the tree does not know."""
    words = [a for a in rest if not a.startswith("-")]
    if words and cmd.children and not any(a in ("-h", "--help") for a in rest):
        word = words[0]
        hint = NOT_MODELLED.get(word)
        io.err.write(f'Error: unknown command "{word}" for "{" ".join(path)}"\n')
        if hint:
            io.err.write(f"gatewaykit: `istioctl {word}` is not part of the sandbox's istioctl: {hint}\n")
        io.err.write(f"Run '{' '.join(path)} --help' for usage.\n")
        return EXIT_USAGE
    io.out.write(_usage(cmd, path))
    return 0


def _usage(cmd: Command, path: list[str]) -> str:
    lines = []
    if len(path) == 1:
        lines += [
            "Istio configuration command line utility for service operators to",
            "debug and diagnose their Istio mesh.",
            "",
            "This is the gatewaykit sandbox's istioctl: a stand-in for Istio 1.27.1's, playing the",
            "commands Istio's gateway docs use against the sandbox (see docs/istioctl.md).",
            "",
        ]
    lines.append("Usage:")
    lines.append(f"  {' '.join(path)}" + (" [command]" if cmd.children else " [flags]"))
    if cmd.children:
        lines += ["", "Available Commands:"]
        width = max(len(c.names[0]) for c in cmd.children)
        lines += [f"  {c.names[0].ljust(width)}" for c in cmd.children]
    if cmd.flags:
        lines += ["", "Flags:"]
        for f in cmd.flags:
            short = f"-{f.short}, " if f.short else "    "
            lines.append(f"  {short}--{f.name}")
    lines.append("")
    return "\n".join(lines)
