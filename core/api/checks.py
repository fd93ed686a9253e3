"""What every API view needs besides its declared permission (``core.requires``): the caller,
object checks before the body is parsed, and problem+json answers documented and raised the same
way in the core and in plugins."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, NoReturn, TypeVar

from flask import abort
from flask_login import current_user
from flask_smorest import abort as abort_with_messages

from core.api.schemas import Problem

F = TypeVar("F", bound=Callable[..., Any])


def api_user() -> Any:
    """The user calling the API (a ``core.User``, not the ``current_user`` proxy): the owner of
    the bearer token. Only in a view with a policy other than ``public``."""
    if not current_user.is_authenticated:
        abort(401)
    return current_user._get_current_object()


def problem_responses(blueprint: Any, *codes: int) -> Callable[[F], F]:
    """Document ``codes`` as problem+json answers of the view in the OpenAPI document.

    Example::

        @blp.route("/matrix")
        @requires("training.view_matrix")
        @blp.arguments(MatrixQuery, location="query", error_status_code=400)
        @blp.response(200, MatrixPage)
        @problem_responses(blp, 400, 401, 403)
        def matrix(query): ...
    """

    def decorate(view: F) -> F:
        for code in codes:
            view = blueprint.alt_response(code, schema=Problem)(view)
        return view

    return decorate


def abort_problem(status: int, message: str, *, field: str | None = None) -> NoReturn:
    """Answer now with a problem+json of ``status``; with ``field``, its ``errors`` name the
    field (a query parameter or body field) with ``message``."""
    if field is None:
        abort(status, description=message)
    abort_with_messages(status, messages={"request": {field: [message]}})
    raise AssertionError("unreachable")  # abort raises


def authorize_first(check: Callable[..., Any]) -> Callable[[F], F]:
    """Run ``check(**path_arguments)`` before the request's body and query are parsed. Put it
    right under ``@blp.route`` (with the view's ``@requires``); ``check`` aborts (403, 404) or
    raises ``PermissionDenied``.

    :param check: called with the route's path arguments as keywords (accept ``**_`` for the
        ones it does not need).

    Example::

        @blp.route("/requirements", methods=["POST"])
        @requires("training.manage")
        @authorize_first(lambda **_: may_share_requirements())
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
