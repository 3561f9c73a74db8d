"""Support for the embedded-sandbox tests (imported by ``conftest.py`` and the test modules):
a running ``Sandbox.local()`` per test module, Istio's sample workloads, the docs' certificates
and a small ``kubectl`` stand-in that renders the Secrets the docs create with
``kubectl create secret`` and cleans up everything a test applied.

Every test here drives the sandbox exactly as a learner would: apply the docs' manifests, run the
docs' ``curl`` command through the real curl binary, assert what curl printed.
"""

from __future__ import annotations

import base64
import contextlib
import os
import pathlib
from collections.abc import Iterator, Mapping

import pytest

from gatewaykit.certs import CertKey, istio_docs_certs, write_all
from gatewaykit.sandbox import Sandbox

# ------------------------------------------------------------------------------ Istio samples

#: istio/istio samples/httpbin/httpbin.yaml from the Python-httpbin era (before Istio 1.24,
#: docs/behaviour.md §1.7, §16): Service port 8000 -> targetPort 80 -> containerPort 80, image
#: docker.io/kong/httpbin.
HTTPBIN_YAML = """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: httpbin
---
apiVersion: v1
kind: Service
metadata:
  name: httpbin
  labels:
    app: httpbin
    service: httpbin
spec:
  ports:
  - name: http
    port: 8000
    targetPort: 80
  selector:
    app: httpbin
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: httpbin
spec:
  replicas: 1
  selector:
    matchLabels:
      app: httpbin
      version: v1
  template:
    metadata:
      labels:
        app: httpbin
        version: v1
    spec:
      serviceAccountName: httpbin
      containers:
      - image: docker.io/kong/httpbin
        imagePullPolicy: IfNotPresent
        name: httpbin
        ports:
        - containerPort: 80
"""

#: istio/istio samples/helloworld/helloworld.yaml, ``-l service=helloworld`` part.
HELLOWORLD_SERVICE_YAML = """\
apiVersion: v1
kind: Service
metadata:
  name: helloworld
  labels:
    app: helloworld
    service: helloworld
spec:
  ports:
  - port: 5000
    name: http
  selector:
    app: helloworld
"""


def helloworld_deployment(version: str) -> str:
    """istio/istio samples/helloworld/helloworld.yaml, ``-l version=<version>`` part."""
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: helloworld-{version}
  labels:
    app: helloworld
    version: {version}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: helloworld
      version: {version}
  template:
    metadata:
      labels:
        app: helloworld
        version: {version}
    spec:
      containers:
      - name: helloworld
        image: docker.io/istio/examples-helloworld-{version}:1.0
        resources:
          requests:
            cpu: "100m"
        imagePullPolicy: IfNotPresent
        ports:
        - containerPort: 5000
"""


#: istio/istio samples/tcp-echo/tcp-echo-services.yaml (v1 echoes "one ...", v2 "two ...").
TCP_ECHO_SERVICES_YAML = """\
apiVersion: v1
kind: Service
metadata:
  name: tcp-echo
  labels:
    app: tcp-echo
spec:
  ports:
  - name: tcp
    port: 9000
  - name: tcp-other
    port: 9001
  selector:
    app: tcp-echo
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: tcp-echo-v1
  labels:
    app: tcp-echo
    version: v1
spec:
  replicas: 1
  selector:
    matchLabels:
      app: tcp-echo
      version: v1
  template:
    metadata:
      labels:
        app: tcp-echo
        version: v1
    spec:
      containers:
      - name: tcp-echo
        image: docker.io/istio/tcp-echo-server:1.2
        imagePullPolicy: IfNotPresent
        args: [ "9000,9001,9002", "one" ]
        ports:
        - containerPort: 9000
        - containerPort: 9001
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: tcp-echo-v2
  labels:
    app: tcp-echo
    version: v2
spec:
  replicas: 1
  selector:
    matchLabels:
      app: tcp-echo
      version: v2
  template:
    metadata:
      labels:
        app: tcp-echo
        version: v2
    spec:
      containers:
      - name: tcp-echo
        image: docker.io/istio/tcp-echo-server:1.2
        imagePullPolicy: IfNotPresent
        args: [ "9000,9001,9002", "two" ]
        ports:
        - containerPort: 9000
        - containerPort: 9001
"""

#: The ingress-control task's Gateway + VirtualService (snip_configuring_ingress_using_a_gateway_1/_2).
HTTPBIN_GATEWAY_YAML = """\
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: httpbin-gateway
spec:
  selector:
    istio: ingressgateway # use Istio default gateway implementation
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - "httpbin.example.com"
"""

HTTPBIN_VS_YAML = """\
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
  - "httpbin.example.com"
  gateways:
  - httpbin-gateway
  http:
  - match:
    - uri:
        prefix: /status
    - uri:
        prefix: /delay
    route:
    - destination:
        port:
          number: 8000
        host: httpbin
"""

#: The ASCII teapot of Python httpbin's /status/418, as the secure-ingress doc test expects it
#: ([D-SI-snips] snip_configure_a_tls_ingress_gateway_for_a_single_host_7_out, docs/behaviour.md §1.7).
TEAPOT = (
    "\n"
    "    -=[ teapot ]=-\n"
    "\n"
    "       _...._\n"
    "     .'  _ _ `.\n"
    '    | ."` ^ `". _,\n'
    '    \\_;`"---"`|//\n'
    "      |       ;/\n"
    "      \\_     _/\n"
    '        `"""`\n'
)

INGRESS = "istio-system/istio-ingressgateway"

# ------------------------------------------------------------------------------------ helpers


def secret_manifest(
    name: str,
    data: Mapping[str, bytes],
    *,
    namespace: str = "default",
    type_: str = "Opaque",
) -> str:
    """The Secret ``kubectl create secret ... --dry-run=client -o yaml`` would print.

    Args:
        name: the Secret name.
        data: key -> raw bytes (base64-encoded here, as the API server stores them).
        namespace: the Secret's namespace.
        type_: ``kubernetes.io/tls`` for ``kubectl create secret tls``, ``Opaque`` for ``generic``.
    """
    lines = [
        "apiVersion: v1",
        "kind: Secret",
        "metadata:",
        f"  name: {name}",
        f"  namespace: {namespace}",
        f"type: {type_}",
        "data:",
    ]
    for key, value in data.items():
        lines.append(f"  {key}: {base64.b64encode(value).decode()}")
    return "\n".join(lines) + "\n"


class Kubectl:
    """The few ``kubectl`` verbs the tasks use, against a sandbox; remembers what to clean up.

    File arguments are relative to ``sb.work_dir``, the directory curl runs in, exactly like the
    docs' relative ``example_certs1/...`` paths.
    """

    def __init__(self, sb: object) -> None:
        self.sb = sb
        self._applied: list[str] = []

    def apply(self, manifest: str) -> object:
        """``kubectl apply -f -``; the object is deleted again after the test."""
        report = self.sb.apply(manifest)  # type: ignore[attr-defined]
        self._applied.append(manifest)
        return report

    def delete(self, manifest: str) -> object:
        """``kubectl delete -f -``."""
        return self.sb.delete(manifest)  # type: ignore[attr-defined]

    def _read(self, rel: str) -> bytes:
        return (pathlib.Path(self.sb.work_dir) / rel).read_bytes()  # type: ignore[attr-defined]

    def tls_secret_yaml(self, name: str, *, key: str, cert: str, namespace: str = "default") -> str:
        """``kubectl create [-n ns] secret tls NAME --key=KEY --cert=CERT`` as a manifest."""
        return secret_manifest(
            name,
            {"tls.crt": self._read(cert), "tls.key": self._read(key)},
            namespace=namespace,
            type_="kubernetes.io/tls",
        )

    def generic_secret_yaml(
        self, name: str, from_file: Mapping[str, str], *, namespace: str = "default"
    ) -> str:
        """``kubectl create secret generic NAME --from-file=k=path ...`` as a manifest."""
        return secret_manifest(name, {k: self._read(v) for k, v in from_file.items()}, namespace=namespace)

    def create_secret_tls(self, name: str, *, key: str, cert: str, namespace: str = "default") -> object:
        """``kubectl create -n <namespace> secret tls <name> --key=... --cert=...``."""
        return self.apply(self.tls_secret_yaml(name, key=key, cert=cert, namespace=namespace))

    def create_secret_generic(
        self, name: str, from_file: Mapping[str, str], *, namespace: str = "default"
    ) -> object:
        """``kubectl create -n <namespace> secret generic <name> --from-file=...``."""
        return self.apply(self.generic_secret_yaml(name, from_file, namespace=namespace))

    def delete_secret(self, name: str, *, namespace: str = "default") -> object:
        """``kubectl -n <namespace> delete secret <name>``."""
        return self.sb.delete(  # type: ignore[attr-defined]
            f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {namespace}\n"
        )

    def cleanup(self) -> None:
        """Delete what this test applied, newest first (objects already gone are ignored)."""
        for manifest in reversed(self._applied):
            with contextlib.suppress(Exception):
                self.sb.delete(manifest)  # type: ignore[attr-defined]
        self._applied.clear()


# ----------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def docs_certs() -> dict[str, CertKey]:
    """Every certificate of Istio's gateway tasks (made once per session; RSA keygen is slow)."""
    return istio_docs_certs()


@pytest.fixture(scope="module")
def sb(docs_certs: dict[str, CertKey]) -> Iterator[object]:
    """One running embedded sandbox per test module, with the docs' certificate files in its
    work dir (``example_certs1/``, ``example_certs2/``, ``example_certs/``), where curl runs."""
    sandbox = Sandbox.local()
    here = os.getcwd()
    try:
        write_all(docs_certs, sandbox.work_dir)
        # A learner runs the docs' openssl and curl commands in one folder: curl runs in the
        # caller's current directory.
        os.chdir(sandbox.work_dir)
        yield sandbox
    finally:
        os.chdir(here)
        sandbox.close()


@pytest.fixture()
def kubectl(sb: object) -> Iterator[Kubectl]:
    """A per-test ``kubectl`` whose applied objects are deleted when the test ends."""
    k = Kubectl(sb)
    try:
        yield k
    finally:
        k.cleanup()
