"""The embedded sandbox's ``istioctl``: a Python stand-in for the parts of Istio 1.27's CLI the docs use.

The real ``istioctl`` (a Go program) cannot talk to the sandbox's data plane, which is not Envoy; this
command plays it against the sandbox's Kubernetes API server, the only way it reaches the sandbox
(``KUBECONFIG``, like the real one). ``Sandbox.local()`` puts a small ``istioctl`` wrapper first on its
shell's ``PATH`` (``python -m gatewaykit.istioctl``); ``Sandbox.kind()`` keeps the real, pinned istioctl.

What it implements, with istioctl 1.27.1's texts, table layouts and exit codes (see ``docs/istioctl.md``):

* ``install`` / ``upgrade`` (``-f``, ``--set``, ``-y``) and ``uninstall --purge`` -- :mod:`._install`
* ``analyze`` -- :mod:`._analyze` (over :mod:`gatewaykit._analyze`)
* ``proxy-config`` and ``proxy-status`` -- :mod:`._proxyconfig` and :mod:`._configdump` (Envoy's admin
  API through the API server's pod proxy, where the real istioctl port-forwards to port 15000)
* ``x describe pod``, ``kube-inject``, ``version``

Anything else is refused with one line saying so (exit 64, as istioctl does for unknown commands).
"""

__all__: list[str] = []
