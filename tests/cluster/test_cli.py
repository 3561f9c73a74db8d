"""The ``gatewaykit`` command line."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from gatewaykit import cli


def test_help_works_without_the_cluster_extras() -> None:
    # A fresh interpreter where kubernetes, testcontainers, docker and rich cannot be imported.
    code = textwrap.dedent(
        """
        import sys, importlib.abc
        class Blocker(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name.split(".")[0] in ("kubernetes", "testcontainers", "docker", "rich"):
                    raise ImportError(f"No module named {name!r}")
        sys.meta_path.insert(0, Blocker())
        from gatewaykit.cli import main
        try:
            main(["--help"])
        except SystemExit as e:
            print("exit", e.code)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: gatewaykit [-h] {course,env,samples,verify,cluster,images} ...")
    assert "cluster" in proc.stdout and "images" in proc.stdout and proc.stdout.rstrip().endswith("exit 0")


def test_missing_extra_gives_the_install_hint() -> None:
    code = textwrap.dedent(
        """
        import sys, importlib.abc
        class Blocker(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name.split(".")[0] in ("docker",):
                    raise ImportError(f"No module named {name!r}")
        sys.meta_path.insert(0, Blocker())
        from gatewaykit.cli import main
        sys.exit(main(["cluster", "status"]))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    assert (
        "docker is not installed: the cluster backends need: pip install 'gatewaykit[cluster]'" in proc.stdout
    )


def test_no_command_prints_help(capsys) -> None:
    assert cli.main([]) == 2
    assert "usage: gatewaykit" in capsys.readouterr().out
    assert cli.main(["cluster"]) == 2


def test_parser_knows_every_command() -> None:
    parser = cli.build_parser()
    args = parser.parse_args(["cluster", "up", "--outbound-traffic-policy", "REGISTRY_ONLY", "--no-internet"])
    assert (args.name, args.outbound_traffic_policy, args.internet) == ("gatewaykit", "REGISTRY_ONLY", False)
    assert parser.parse_args(["cluster", "down", "--all"]).all is True
    assert parser.parse_args(["images", "load", "b.tar", "--into", "gatewaykit"]).into == "gatewaykit"
    with pytest.raises(SystemExit):
        parser.parse_args(["cluster", "up", "--outbound-traffic-policy", "DENY"])


def test_bundle_names_every_pinned_image_by_tag() -> None:
    refs = cli._bundle_refs()
    # `docker save` of a digest reference would lose the name: the bundle uses the tag kept by pull.
    assert "docker.io/kindest/node:v1.33.1" in refs and all("@" not in r for r in refs)
    assert "gatewaykit/internet:0.1.0" in refs and "docker.io/istio/proxyv2:1.27.1" in refs


@pytest.mark.docker
def test_status_without_a_cluster(docker_engine, capsys) -> None:
    assert cli.main(["cluster", "status", "--name", "gk-nonexistent"]) == 1
    assert "no gatewaykit cluster is running (start one: gatewaykit cluster up)" in capsys.readouterr().out
    assert cli.main(["cluster", "down", "--name", "gk-nonexistent"]) == 0
