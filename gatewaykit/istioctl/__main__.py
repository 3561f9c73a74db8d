"""``python -m gatewaykit.istioctl ...``: the sandbox's istioctl (see :mod:`gatewaykit.istioctl`)."""

import sys

from gatewaykit.istioctl._cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
