"""A lab's working folder: where the learner's cells, the curl panel and the sandbox shell run.

Istio's task pages are written for one terminal in one directory: ``openssl`` writes
``example_certs1/...`` there and ``curl --cacert example_certs1/example.com.crt`` reads it back.
The kit keeps that promise with one **visible** folder per lab, ``<notebooks>/<lab id>/``, beside
the notebook (``$GATEWAYKIT_WORK_DIR/<lab id>`` when set). The notebook's kernel works in it, so a
learner's ``!openssl`` cell, a ``%%gatewaykit`` cell, the curl panel and the kit's own probes all
see the same files. It holds:

* ``certificates.sh`` -- the docs' ``openssl`` commands for the certificates the lab needs, which
  the kit runs (through the sandbox's shell) when a certificate is missing, so the files are made
  exactly as the learner would make them. A file the learner made is never overwritten.
* ``edits/`` -- the editors' texts, saved as typed; ``progress.json`` -- which steps were applied and
  checked and which exercises passed (``gatewaykit course status``); ``applied.json`` -- what the kit
  applied, so a later session can remove it from a long-lived cluster.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shlex
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CERTIFICATE_SETS",
    "Progress",
    "certificate_script",
    "default_work_dir",
    "missing_certificates",
]

_LAB_DIR_RE = re.compile(r"^\d\d-[a-z0-9-]+$")


def default_work_dir(lab_id: str) -> pathlib.Path:
    """``$GATEWAYKIT_WORK_DIR/<lab>``, else ``<folder of the notebooks>/<lab>``.

    The folder of the notebooks is the current directory, or its parent when the kernel already
    works in another lab's folder (a second lab opened in the same kernel).
    """
    base = os.environ.get("GATEWAYKIT_WORK_DIR")
    if base:
        return pathlib.Path(base) / lab_id
    cwd = pathlib.Path.cwd()
    if cwd.name == lab_id:
        return cwd
    root = cwd.parent if _LAB_DIR_RE.match(cwd.name) else cwd
    return root / lab_id


# --------------------------------------------------------------------------------------------
# The docs' certificates, by the docs' own openssl commands


@dataclass(frozen=True, slots=True)
class Cert:
    """One certificate as a docs page makes it: its path without extension, subject and signer.

    ``ca`` is None for a self-signed CA (``openssl req -x509``); else the CA's path and the
    ``-set_serial`` value of ``openssl x509 -req``. ``sans`` adds a subjectAltName (``-extfile``).
    """

    path: str
    cn: str
    org: str
    ca: str | None = None
    serial: int = 0
    sans: tuple[str, ...] = ()


def _ca(path: str) -> Cert:
    return Cert(path, "example.com", "example Inc.")


#: The certificate sets of Istio's gateway tasks (istio.io/latest/docs/tasks/traffic-management/):
#: ingress/secure-ingress (example_certs1, example_certs2 -- a new CA with the same subject),
#: ingress/ingress-sni-passthrough (example_certs) and egress/egress-gateway-tls-origination
#: (``egress``: files in the current directory, as that page writes them).
CERTIFICATE_SETS: Mapping[str, tuple[Cert, ...]] = {
    "example_certs1": (
        _ca("example_certs1/example.com"),
        Cert("example_certs1/httpbin.example.com", "httpbin.example.com", "httpbin organization",
             "example_certs1/example.com", 0),
        Cert("example_certs1/helloworld.example.com", "helloworld.example.com", "helloworld organization",
             "example_certs1/example.com", 1),
        Cert("example_certs1/client.example.com", "client.example.com", "client organization",
             "example_certs1/example.com", 1),
    ),
    "example_certs2": (
        _ca("example_certs2/example.com"),
        Cert("example_certs2/httpbin.example.com", "httpbin.example.com", "httpbin organization",
             "example_certs2/example.com", 0),
    ),
    "example_certs": (
        _ca("example_certs/example.com"),
        Cert("example_certs/nginx.example.com", "nginx.example.com", "some organization",
             "example_certs/example.com", 0),
    ),
    "egress": (
        _ca("example.com"),
        Cert("my-nginx.mesh-external.svc.cluster.local", "my-nginx.mesh-external.svc.cluster.local",
             "some organization", "example.com", 0),
        Cert("client.example.com", "client.example.com", "client organization", "example.com", 1),
    ),
}


def _commands(cert: Cert) -> list[str]:
    """The docs' commands for one certificate, verbatim in shape (secure-ingress, docs/behaviour.md §16)."""
    p = cert.path
    if cert.ca is None:
        return [
            f"openssl req -x509 -sha256 -nodes -days 365 -newkey rsa:2048 "
            f"-subj '/O={cert.org}/CN={cert.cn}' -keyout {p}.key -out {p}.crt"
        ]
    ext = ""
    if cert.sans:
        names = ",".join(f"DNS:{s}" for s in cert.sans)
        ext = f' -extfile <(printf "subjectAltName={names}")'
    return [
        f"openssl req -out {p}.csr -newkey rsa:2048 -nodes -keyout {p}.key "
        f'-subj "/CN={cert.cn}/O={cert.org}"',
        f"openssl x509 -req -sha256 -days 365 -CA {cert.ca}.crt -CAkey {cert.ca}.key "
        f"-set_serial {cert.serial} -in {p}.csr -out {p}.crt{ext}",
    ]


def certificate_script(certs: Iterable[Cert]) -> str:
    """A bash script of the docs' ``openssl`` commands making ``certs`` (folders first)."""
    certs = list(certs)
    folders = sorted({c.path.rsplit("/", 1)[0] for c in certs if "/" in c.path})
    lines = ["# The certificates of Istio's gateway tasks, made with the docs' own openssl commands.",
             "# gatewaykit ran this for the files that were missing; run it again after deleting them.",
             "set -e"]
    lines += [f"mkdir -p {shlex.quote(f)}" for f in folders]
    for c in certs:
        lines += _commands(c)
    return "\n".join(lines) + "\n"


def missing_certificates(work_dir: pathlib.Path, certs: Iterable[Cert]) -> list[Cert]:
    """The certificates whose ``.crt`` is not in the folder yet, and every certificate signed by a
    CA that is being made again (an old leaf would not verify with the new CA)."""
    todo: list[Cert] = []
    remade: set[str] = set()
    for c in certs:
        if not (work_dir / f"{c.path}.crt").exists() or (c.ca is not None and c.ca in remade):
            todo.append(c)
            remade.add(c.path)
    return todo


# --------------------------------------------------------------------------------------------
# Progress: what an instructor's overview shows


class Progress:
    """``progress.json`` of a lab's working folder: steps applied and checked, exercises passed.

    Kept small and human-readable; every write replaces the file atomically.
    """

    FILE = "progress.json"

    def __init__(self, work_dir: pathlib.Path) -> None:
        self.path = work_dir / self.FILE
        self.data: dict[str, Any] = self._read()

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def record(self, section: str, item: str, **facts: Any) -> None:
        """Merge ``facts`` into ``section/item`` (``steps``/``gateway``: ``applied=True``) and save."""
        entry = self.data.setdefault(section, {}).setdefault(item, {})
        entry.update(facts, at=time.strftime("%Y-%m-%dT%H:%M:%S"))
        self.save()

    def save(self) -> None:
        """Write the file (silently skipped when the folder is read-only)."""
        try:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True))
            os.replace(tmp, self.path)
        except OSError:
            pass

    def clear(self) -> None:
        """Forget everything (a lab reset)."""
        self.data = {}
        self.path.unlink(missing_ok=True)

    def step(self, step_id: str) -> dict[str, Any]:
        """What is recorded for a step (``applied``, ``probes`` -> {index: ok})."""
        return dict(self.data.get("steps", {}).get(step_id, {}))

    def exercise(self, exercise_id: str) -> dict[str, Any]:
        """What is recorded for an exercise (``passed``, ``checks``)."""
        return dict(self.data.get("exercises", {}).get(exercise_id, {}))
