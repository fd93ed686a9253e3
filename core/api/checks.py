"""Authorization before parsing: an API view's permission check runs ahead of flask-smorest's
``@blp.arguments``, so a caller without the right gets 403 (or 404), never a 422 describing a
body they may not send."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def authorize_first(check: Callable[..., Any]) -> Callable[[F], F]:
    """Run ``check(**path_arguments)`` before the request's body and query are parsed. Put it
    right under ``@blp.route``; ``check`` aborts (403, 404) or raises ``PermissionDenied``.

    :param check: called with the route's path arguments as keywords (accept ``**_`` for the
        ones it does not need).

    Example::

        @blp.route("/requirements", methods=["POST"])
        @authorize_first(lambda **_: require("training.manage"))
        @blp.arguments(RequirementWrite)
        def create_requirement(body): ...
    """

    def decorate(view: F) -> F:
        @wraps(view)  # keeps flask-smorest's documentation of the decorators below
        def checked(*args: Any, **kwargs: Any) -> Any:
            check(**kwargs)
            return view(*args, **kwargs)

        return checked  # type: ignore[return-value]

    return decorate
