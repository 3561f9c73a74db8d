"""A notebook progress bar for slow start-ups (the kind backend's ``progress=`` callback).

The backend only calls a plain ``progress(text)`` callback; this module turns those calls into an
ipywidgets bar, so ``gatewaykit.backends`` never imports a widget library.

>>> box, hook = progress_widget(KindSandbox.STEPS)     # doctest: +SKIP
>>> display(box); sb = Sandbox.kind(progress=hook)     # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["progress_widget"]


def progress_widget(steps: Sequence[str], title: str = "kind") -> tuple[Any, Callable[[str], None]]:
    """``(widget, hook)``: an ``IntProgress`` over ``steps`` and a ``Label`` with the latest text.

    A text that names a step advances the bar (the last step turns it green); any other text (a
    note such as ``"pulling docker.io/istio/pilot:1.27.1 (2/9)"``) only changes the label.
    """
    try:
        import ipywidgets as widgets
    except ImportError as exc:  # pragma: no cover - ipywidgets is in the notebooks extra
        raise ImportError("the progress widget needs: pip install 'gatewaykit[notebooks]'") from exc
    bar = widgets.IntProgress(value=0, min=0, max=len(steps), description=title)
    label = widgets.Label(value="")
    box = widgets.HBox([bar, label])

    def hook(text: str) -> None:
        if text in steps:
            bar.value = list(steps).index(text) + 1
            bar.bar_style = "success" if text == steps[-1] else ""
        label.value = text

    return box, hook
