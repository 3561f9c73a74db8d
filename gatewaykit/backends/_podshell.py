"""Stand-ins for the busybox applets of a sample pod's image, for ``kubectl exec``.

Istio's ``curl`` sample runs ``curlimages/curl`` (Alpine: busybox provides ``sh``, ``time``, ``nc``
...). The docs run some of them through ``kubectl exec``, e.g. the egress-control task's
``kubectl exec "$SOURCE_POD" -c curl -- time curl -o /dev/null -sS -w "%{http_code}\\n" ...``. The
sandbox's pods are not containers: these bash functions print what busybox prints.

``time`` (busybox ``miscutils/time.c``, default format ``real\\t%E\\nuser\\t%u\\nsys\\t%T`` on
stderr, ``Command exited with non-zero status N`` first when the command failed, the command's
exit code): a stand-in, since ``time`` is a reserved word of the bash the sandbox runs scripts with,
whose own report has another shape.
"""

from __future__ import annotations

__all__ = ["BUSYBOX_TIME", "pod_argv"]

#: ``_busybox_time CMD...``: runs CMD, then prints busybox time's default report on stderr.
#: Elapsed from $EPOCHREALTIME; user/sys from ``times`` (the children's CPU, i.e. CMD's).
BUSYBOX_TIME = r"""_busybox_time_fmt() {
  local m=${1%%m*} s=${1#*m}; s=${s%s}
  local whole=$(( 10#$m * 60 + 10#${s%.*} )) frac=${s#*.}
  printf '%dm %d.%02ds' $((whole / 60)) $((whole % 60)) $((10#${frac:0:2}))
}
_busybox_time() {
  local t0=${EPOCHREALTIME/./} rc
  "$@"; rc=$?
  local t1=${EPOCHREALTIME/./} children
  local ms=$(( (t1 - t0) / 1000 ))
  children=$(times); children=${children#*$'\n'}
  {
    [ "$rc" -ne 0 ] && echo "Command exited with non-zero status $rc"
    printf 'real\t%dm %d.%02ds\n' $((ms / 60000)) $((ms / 1000 % 60)) $((ms / 10 % 100))
    printf 'user\t%s\n' "$(_busybox_time_fmt "${children%% *}")"
    printf 'sys\t%s\n' "$(_busybox_time_fmt "${children##* }")"
  } >&2
  return "$rc"
}
"""

#: Programs run by a stand-in function instead of a binary of the same name.
_STAND_INS = {"time": "_busybox_time"}


def pod_argv(argv: list[str]) -> list[str]:
    """``argv`` with a busybox applet the sandbox stands in for replaced by its function."""
    if argv and argv[0] in _STAND_INS:
        return [_STAND_INS[argv[0]], *argv[1:]]
    return argv
