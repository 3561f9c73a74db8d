"""The ``gatewaykit`` command: the course, the running sandbox, the kind cluster, the image bundle.

::

    gatewaykit course init [--dir D]            copy the notebooks into the workspace (never over yours)
    gatewaykit course status [--dir D]          which labs, steps applied and checked, exercises passed
    gatewaykit course reset [LAB...|--all]      forget edits and progress (--notebook: the course's copy)
    gatewaykit course check [LAB...]            run every lab headless and print a report
    gatewaykit course export LAB [-o FILE]      a self-contained, printable HTML of a notebook
    gatewaykit env                                                      export lines for kubectl

    gatewaykit cluster up [--name N] [--outbound-traffic-policy MODE]   start (or reuse) the cluster
    gatewaykit cluster down [--name N | --all]                          remove its containers
    gatewaykit cluster status                                           what runs, on which ports
    gatewaykit images pull                                              pull every pinned image
    gatewaykit images save BUNDLE.tar                                   one tarball of all of them
    gatewaykit images load BUNDLE.tar [--into NAME]                     load it (and into a node)
    gatewaykit verify SNIPS.sh [--only NAME...] [--backend B]             run a task page's snippets

``gatewaykit --help`` works without the cluster extras; the commands that need Docker or the
Kubernetes client import them lazily and say what to install when they are missing.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["build_parser", "main"]


def _console() -> Any:
    """A rich Console when rich is installed, else a minimal stand-in with ``print``."""
    try:
        from rich.console import Console

        return Console(highlight=False)
    except ImportError:  # pragma: no cover - rich is in both extras

        class _Plain:
            def print(self, *args: Any, **_: Any) -> None:
                import re

                print(*(re.sub(r"\[/?[a-z ]+\]", "", str(a)) for a in args))

        return _Plain()


def _error(console: Any, text: str) -> None:
    """Print an error line verbatim: no markup interpretation (``gatewaykit[cluster]``), no wrapping."""
    try:
        from rich.markup import escape

        console.print(f"[red]error:[/red] {escape(text)}", soft_wrap=True)
    except ImportError:  # pragma: no cover
        print(f"error: {text}")


class _StepProgress:
    """The progress hook for ``KindSandbox``: one rich status line per step, ticked when done."""

    def __init__(self, console: Any, steps: Sequence[str] = ()) -> None:
        self.console = console
        self.steps = set(steps)
        self.current: str | None = None
        self._status: Any = None

    def __call__(self, step: str) -> None:
        if self.steps and step not in self.steps:  # a note within a step: the status line only
            if self._status is not None:
                self._status.update(f"{self.current}: {step}" if self.current else step)
            else:
                self.console.print(f"  {step}", soft_wrap=True)
            return
        if self.current is not None:
            self.console.print(f"[green]✓[/green] {self.current}")
        self.current = step
        if self._status is None and hasattr(self.console, "status"):
            self._status = self.console.status(step)
            self._status.start()
        elif self._status is not None:
            self._status.update(step)
        else:
            self.console.print(f"… {step}")

    def finish(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        if self.current is not None:
            self.console.print(f"[green]✓[/green] {self.current}")
            self.current = None


def _cluster_up(args: argparse.Namespace, console: Any) -> int:
    from gatewaykit.backends.kind import STEPS, KindSandbox

    progress = _StepProgress(console, STEPS)
    try:
        sb = KindSandbox(
            reuse=True,
            name=args.name,
            progress=progress,
            outbound_traffic_policy=args.outbound_traffic_policy,
            internet=args.internet,
        )
    finally:
        progress.finish()
    console.print(f"[bold]cluster {args.name} is up[/bold] (Istio {sb.istio_version})")
    console.print(f"export KUBECONFIG={sb.kubeconfig}", soft_wrap=True)
    for key, value in sb.env.items():
        console.print(f"export {key}={value}", soft_wrap=True)
    sb.close()  # reuse=True: closes the API client only, the cluster stays warm
    return 0


def _cluster_down(args: argparse.Namespace, console: Any) -> int:
    from gatewaykit.backends._node import remove_cluster

    removed = remove_cluster(None if args.all else args.name)
    for item in removed:
        console.print(f"removed {item}")
    if not removed:
        console.print("nothing to remove")
    return 0


def _cluster_status(args: argparse.Namespace, console: Any) -> int:
    from gatewaykit.backends._node import cluster_status

    rows = cluster_status(args.name)
    if not rows:
        console.print("no gatewaykit cluster is running (start one: gatewaykit cluster up)")
        return 1
    try:
        from rich.table import Table

        table = Table("cluster", "role", "container", "status", "127.0.0.1 ports", "image")
        for r in rows:
            ports = ", ".join(f"{k}→{v}" for k, v in sorted(r["ports"].items()))
            table.add_row(r["cluster"], r["role"], r["name"], r["status"], ports, r["image"])
        console.print(table)
    except ImportError:  # pragma: no cover
        for r in rows:
            console.print(r)
    return 0


def _images_pull(args: argparse.Namespace, console: Any) -> int:
    from gatewaykit.backends._kindconfig import CLUSTER_DIR, pinned_images
    from gatewaykit.backends._node import docker_client, ensure_images, local_image

    client = docker_client()
    progress = _StepProgress(console)
    try:
        ensure_images(client, [i for i in pinned_images() if i.role != "internet"], progress)
    finally:
        progress.finish()
    for img in pinned_images():
        if img.role == "internet" and (args.rebuild or local_image(client, img.ref) is None):
            console.print(f"building {img.tagged} from cluster/internet/Dockerfile")
            from gatewaykit.backends._errormap import docker_errors

            with docker_errors("building the fake internet"):
                client.images.build(
                    path=str(CLUSTER_DIR.parent),
                    dockerfile="cluster/internet/Dockerfile",
                    tag=img.tagged,
                    rm=True,
                )
    console.print("[green]all pinned images are present[/green]")
    return 0


def _images_lock(args: argparse.Namespace, console: Any) -> int:
    """Write the registry digest of every pulled image into cluster/images.txt (``--check``: compare)."""
    from gatewaykit.backends._kindconfig import CLUSTER_DIR
    from gatewaykit.backends._node import docker_client, lock_images

    path = CLUSTER_DIR / "images.txt"
    text, changes = lock_images(docker_client(), path.read_text())
    for line in changes:
        console.print(line, soft_wrap=True)
    if args.check:
        if changes:
            console.print(f"[red]{len(changes)} image(s) differ from {path}[/red]")
            return 1
        console.print("every image is pinned by the digest the registry serves")
        return 0
    path.write_text(text)
    console.print(f"wrote {path}" if changes else "nothing to change")
    return 0


def _bundle_refs() -> list[str]:
    from gatewaykit.backends._kindconfig import pinned_images

    return [img.tagged for img in pinned_images()]


def _docker_cli() -> str:
    cli = shutil.which("docker")
    if not cli:
        raise SystemExit("gatewaykit images: the docker CLI is needed (it comes with Docker)")
    return cli


def _images_save(args: argparse.Namespace, console: Any) -> int:
    refs = _bundle_refs()
    console.print(f"saving {len(refs)} images to {args.bundle}")
    subprocess.run([_docker_cli(), "save", "-o", args.bundle, *refs], check=True)
    size = pathlib.Path(args.bundle).stat().st_size
    console.print(f"[green]{args.bundle}[/green]: {size / 1024**2:.0f} MiB")
    return 0


def _images_load(args: argparse.Namespace, console: Any) -> int:
    console.print(f"loading {args.bundle} into Docker")
    subprocess.run([_docker_cli(), "load", "-i", args.bundle], check=True)
    if args.into:
        from gatewaykit.backends._kindconfig import NodeSpec, pinned_images
        from gatewaykit.backends._node import KindNode, docker_client, find_node, load_images

        client = docker_client()
        container = find_node(args.into, client)
        if container is None:
            console.print(f"[red]no running cluster {args.into}[/red]")
            return 1
        node = KindNode.attach(NodeSpec.load(), container, client)
        load_images(node, [i for i in pinned_images() if i.role == "cluster"], lambda t: console.print(t))
    console.print("[green]done[/green]")
    return 0


def _env(args: argparse.Namespace, console: Any) -> int:
    """Print the running sandbox's ``export`` lines (``eval "$(gatewaykit env)"``)."""
    from gatewaykit.backends._registry import current_env_file

    found = current_env_file()
    if found is None:
        # stderr: stdout is what `eval "$(gatewaykit env)"` runs.
        print("error: no running sandbox: open a lab notebook (or start Sandbox.local()) first, then run "
              '`eval "$(gatewaykit env)"` again', file=sys.stderr)
        return 1
    sys.stdout.write(found.read_text())
    return 0


def _samples(args: argparse.Namespace, console: Any) -> int:
    """Print the samples folder, or link it into a folder (``samples/...`` as in Istio's docs)."""
    from gatewaykit import samples

    if args.link is not None:
        made = samples.link(args.link)
        print(f"{made} -> {samples.path()}")
    else:
        print(samples.path())
    return 0


#: How often a verified snippet runs before it counts as failed, per backend. istio.io's harness
#: retries every ``_verify_*`` for up to ``VERIFY_TIMEOUT`` (120 s): a cluster converges over
#: seconds, while the embedded sandbox serves a change before ``kubectl`` returns.
_ATTEMPTS = {"local": 1, "kind": 60, "connect": 60}


def _verify_backend(name: str) -> Any:
    from gatewaykit.sandbox import Sandbox

    if name == "local":
        return Sandbox.local()
    if name == "kind":
        return Sandbox.kind(reuse=True)
    return Sandbox.connect(os.environ.get("KUBECONFIG"), os.environ.get("GATEWAYKIT_CONTEXT"))


def _verify(args: argparse.Namespace, console: Any) -> int:
    """Run a snips file's ``snip_*`` functions in one sandbox shell and judge each (exit 0/1)."""
    import tempfile

    from gatewaykit.kit.snips import parse_snips, run_in_backend

    snips = pathlib.Path(args.snips)
    if not snips.is_file():
        _error(console, f"{snips}: no such file")
        return 2
    # A malformed file or an unknown --only name fails before a sandbox starts.
    names = {s.name for s in parse_snips(snips.read_text(encoding="utf-8"), file=str(snips))}
    unknown = sorted({n if n.startswith("snip_") else f"snip_{n}" for n in args.only or ()} - names)
    if unknown:
        _error(console, f"{snips}: no snippet named {', '.join(unknown)}")
        return 2
    name = args.backend or os.environ.get("GATEWAYKIT_BACKEND", "local").strip().lower() or "local"
    name = "connect" if name in ("cluster", "byo") else name  # backend_from_env's other names
    if name not in _ATTEMPTS:
        _error(console, f"GATEWAYKIT_BACKEND={name!r} is not a backend: use local, kind or connect")
        return 2
    attempts = args.attempts if args.attempts is not None else _ATTEMPTS.get(name, 1)
    backend = _verify_backend(name)
    try:
        with tempfile.TemporaryDirectory(prefix="gatewaykit-verify-") as tmp:
            run = run_in_backend(
                snips,
                backend,
                args.only,
                work_dir=args.work_dir or tmp,
                keep_going=args.keep_going,
                attempts=attempts,
                delay=2.0,
                echo=lambda line: print(line, flush=True),
            )
    finally:
        backend.close()
    print(run.summary())
    return 0 if run.ok else 1


def _workspace(args: argparse.Namespace) -> pathlib.Path:
    """``--dir``, else ``$GATEWAYKIT_WORKSPACE`` (set by ``make lab``), else the current folder
    when it is a workspace, else ``./workspace``."""
    import os  # noqa: PLC0415

    if args.dir:
        return pathlib.Path(args.dir)
    env = os.environ.get("GATEWAYKIT_WORKSPACE")
    if env:
        return pathlib.Path(env)
    here = pathlib.Path.cwd()
    return here if (here / ".course.json").exists() else here / "workspace"


def _course_init(args: argparse.Namespace, console: Any) -> int:
    from gatewaykit.kit import course  # noqa: PLC0415

    where = _workspace(args)
    for line in course.init_workspace(where):
        print(line)
    print(f"your copies are in {where}/ (git ignores them; the tracked notebooks stay as they are)")
    return 0


def _course_status(args: argparse.Namespace, console: Any) -> int:
    from gatewaykit.kit import course  # noqa: PLC0415

    print(course.overview(_workspace(args)))
    return 0


def _course_reset(args: argparse.Namespace, console: Any) -> int:
    from gatewaykit.kit import course  # noqa: PLC0415

    if not args.labs and not args.all:
        _error(console, "name the labs to reset (gatewaykit course reset 04), or --all")
        return 2
    where = _workspace(args)
    for line in course.reset_folder(where, None if args.all else args.labs):
        print(line)
    if args.notebook:
        from gatewaykit.kit.labs import list_labs  # noqa: PLC0415

        for lab_id in list_labs() if args.all else args.labs:
            print(course.take_course_notebook(where, lab_id))
    print("what is applied is reset when each lab opens again (its first cell)")
    return 0


def _course_check(args: argparse.Namespace, console: Any) -> int:
    from gatewaykit.kit import course  # noqa: PLC0415

    ok = course.check_course(args.labs or None, notebooks=args.notebooks, print_line=print)
    return 0 if ok else 1


def _course_export(args: argparse.Namespace, console: Any) -> int:
    from gatewaykit.kit import course  # noqa: PLC0415
    from gatewaykit.kit.labs import load_lab  # noqa: PLC0415

    lab_id = load_lab(args.lab).id
    source = _workspace(args) / f"{lab_id}.ipynb"
    if not source.exists():
        source = course.notebooks_dir() / f"{lab_id}.ipynb"
    print(course.export_html(source, args.output))
    return 0


def _add_course(sub: Any) -> None:
    course = sub.add_parser("course", help="the learner's copies, progress, resets, a headless check, HTML")
    csub = course.add_subparsers(dest="command", metavar="{init,status,reset,check,export}")

    def cmd(name: str, text: str, func: Callable[[argparse.Namespace, Any], int]) -> argparse.ArgumentParser:
        p = csub.add_parser(name, help=text)
        p.add_argument(
            "--dir", default=None, help="the workspace (default: $GATEWAYKIT_WORKSPACE or ./workspace)"
        )
        p.set_defaults(func=func)
        return p

    cmd("init", "copy the notebooks into the workspace (a copy you have is kept)", _course_init)
    cmd("status", "which labs were started, which steps applied and checked, which exercises passed",
        _course_status)
    reset = cmd("reset", "forget the edits and progress of some labs (what is applied resets when a lab "
                "opens)", _course_reset)
    reset.add_argument("labs", nargs="*", help="lab ids or numbers")
    reset.add_argument("--all", action="store_true", help="every lab")
    reset.add_argument("--notebook", action="store_true",
                       help="also replace your notebook copy with the course's (yours is kept as .bak)")
    check = cmd("check", "run every lab on a fresh sandbox -- every probe, every reference solution -- "
                "and print a report (exit 1 when something fails)", _course_check)
    check.add_argument("labs", nargs="*", help="lab ids or numbers (default: all)")
    check.add_argument("--notebooks", action="store_true", help="also execute every notebook (Run All)")
    export = cmd("export", "write a self-contained, printable HTML of a lab's notebook", _course_export)
    export.add_argument("lab", help="lab id or number")
    export.add_argument("-o", "--output", default=None, help="the HTML file (default: beside the notebook)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (no optional dependency imported)."""
    parser = argparse.ArgumentParser(
        prog="gatewaykit",
        description="gatewaykit: Istio gateways, live. Manage the course, point a terminal at the running "
        "sandbox, manage the kind cluster and the offline image bundle.",
    )
    sub = parser.add_subparsers(dest="group", metavar="{course,env,samples,verify,cluster,images}")
    _add_course(sub)
    env = sub.add_parser(
        "env",
        help="print export lines that point kubectl and istioctl at the running sandbox "
        '(eval "$(gatewaykit env)")',
    )
    env.set_defaults(func=_env)
    smp = sub.add_parser(
        "samples",
        help="print the folder of Istio 1.27's samples as the sandbox knows them (--link DIR: make "
        "DIR/samples point at it, so `kubectl apply -f samples/httpbin/httpbin.yaml` works in DIR)",
    )
    smp.add_argument("--path", action="store_true", help="print the folder (the default)")
    smp.add_argument("--link", metavar="DIR", nargs="?", const=".", default=None)
    smp.set_defaults(func=_samples)
    ver = sub.add_parser(
        "verify",
        help="run a task page's snips.sh: its snip_* functions in order, in one sandbox shell, each "
        "checked against its snip_*_out text as istio.io's doc tests check it",
        description="Run the snip_* functions of SNIPS.sh in order, in one bash session against a "
        "sandbox (exported variables carry over), from a working folder where samples/ is Istio 1.27's "
        "samples folder. A '# verify: <how> [text]' comment above a function picks istio.io's verifier "
        "(same, contains, not_contains, elided, regex, first_line, like, lines, failure; exit; skip); "
        "without one, a snippet with a snip_*_out block must print it exactly, and one without must exit "
        "0. Prints PASS/FAIL/SKIP per snippet and a summary; exits 0 when every snippet passed, else 1.",
    )
    ver.add_argument("snips", metavar="SNIPS.sh", help="the snips file (istio.io's generated style)")
    ver.add_argument("--only", nargs="+", metavar="NAME", help="run only these snippets (snip_ optional)")
    ver.add_argument(
        "--backend",
        choices=("local", "kind", "connect"),
        default=None,
        help="local: start an embedded sandbox (the default, or $GATEWAYKIT_BACKEND); kind: start or reuse "
        "the kind cluster; connect: the cluster of $KUBECONFIG",
    )
    ver.add_argument("--keep-going", action="store_true", help="go on after a failure (test.sh stops)")
    ver.add_argument(
        "--attempts",
        type=int,
        default=None,
        metavar="N",
        help="runs of a verified snippet before it fails, 2 s apart (default: 1 on local, 60 on a cluster)",
    )
    ver.add_argument(
        "--work-dir", metavar="DIR", default=None, help="run from DIR (default: a new temporary folder)"
    )
    ver.set_defaults(func=_verify)
    cluster = sub.add_parser("cluster", help="start, stop and inspect the kind + Istio cluster")
    csub = cluster.add_subparsers(dest="command", metavar="{up,down,status}")
    up = csub.add_parser("up", help="start (or reuse) the cluster and print the ingress variables")
    up.add_argument("--name", default="gatewaykit", help="cluster name (default: gatewaykit)")
    up.add_argument(
        "--outbound-traffic-policy",
        choices=("ALLOW_ANY", "REGISTRY_ONLY"),
        default="ALLOW_ANY",
        help="meshConfig.outboundTrafficPolicy.mode (default: ALLOW_ANY)",
    )
    up.add_argument(
        "--no-internet", dest="internet", action="store_false", help="do not start the fake internet"
    )
    up.set_defaults(func=_cluster_up, internet="auto")
    down = csub.add_parser(
        "down", help="remove the cluster's containers, network and volume (works without Ryuk)"
    )
    down.add_argument("--name", default="gatewaykit")
    down.add_argument("--all", action="store_true", help="every gatewaykit cluster on this machine")
    down.set_defaults(func=_cluster_down)
    status = csub.add_parser("status", help="list gatewaykit containers and their published ports")
    status.add_argument("--name", default=None)
    status.set_defaults(func=_cluster_status)

    images = sub.add_parser("images", help="the pinned images: pull, save to one bundle, load offline")
    isub = images.add_subparsers(dest="command", metavar="{pull,lock,save,load}")
    pull = isub.add_parser("pull", help="pull every pinned image (and build the fake internet image)")
    pull.add_argument("--rebuild", action="store_true", help="rebuild the fake internet image")
    pull.set_defaults(func=_images_pull)
    lock = isub.add_parser("lock", help="pin every pulled image by its registry digest in cluster/images.txt")
    lock.add_argument("--check", action="store_true", help="only compare; exit 1 when a digest differs")
    lock.set_defaults(func=_images_lock)
    save = isub.add_parser("save", help="write every pinned image into one tarball")
    save.add_argument("bundle", help="the tarball to write, e.g. gatewaykit-images.tar")
    save.set_defaults(func=_images_save)
    load = isub.add_parser("load", help="load a bundle into Docker (and into a running node)")
    load.add_argument("bundle")
    load.add_argument(
        "--into", metavar="NAME", help="also import the cluster images into this running cluster"
    )
    load.set_defaults(func=_images_load)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gatewaykit`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace, Any], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    console = _console()
    from gatewaykit.errors import GatewayKitError

    try:
        return func(args, console)
    except ImportError as exc:
        _error(console, str(exc))
        return 3
    except GatewayKitError as exc:
        _error(console, str(exc))
        return 1
    except subprocess.CalledProcessError as exc:
        _error(console, f"{' '.join(map(str, exc.cmd))} exited {exc.returncode}")
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
