"""Account tables. Users are never hard-deleted and usernames are never reused."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_login import UserMixin
from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    or_,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, selectinload

from core.db import Base, UTCDateTime, db, utcnow
from core.db.lookups import lookup_text, row_by_id, row_by_text
from core.permissions import scope_clause
from core.stamps import kept
from core.studies import Site


class User(UserMixin, Base):
    __tablename__ = "core_user"
    __audit_label_column__ = "username"
    __audit__ = True
    __audit_redact__ = frozenset({"password_hash", "totp_secret"})
    __audit_ignore__ = frozenset({"failed_logins", "last_login_at", "totp_last_step"})

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Service principals (the "system" actor of CLI and sweeps) are attributable but cannot log in.
    is_service: Mapped[bool] = mapped_column(Boolean, default=False)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Last accepted TOTP time step: a code is accepted once (no replay within its window).
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    # 21 CFR 11.300(e): the last periodic test of the authenticator (enrolment counts as one).
    totp_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # 21 CFR 11.100(b): an administrator verified the person's identity; no signature before.
    identity_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    identity_verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id"))

    assignments: Mapped[list[UserRole]] = relationship(
        back_populates="user", foreign_keys="UserRole.user_id", lazy="select"
    )

    # Flask-Login identifies the *session*, not the user, so a session can be revoked server-side.
    session_token = None  # set per request by the session loader (not a column)

    def get_id(self) -> str | None:
        return self.session_token

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return self.active and not self.is_service

    @property
    def is_locked(self) -> bool:
        return self.locked_at is not None

    @property
    def totp_last_verified(self) -> datetime | None:
        """When the enrolled authenticator last proved to work: enrolment or a re-verification."""
        if self.totp_enabled_at is None:
            return None
        return max(d for d in (self.totp_enabled_at, self.totp_verified_at) if d is not None)

    @property
    def printed_name(self) -> str:
        return f"{self.full_name} ({self.username})"

    def audit_label(self) -> str:
        return self.username

    def active_assignments(self) -> list[UserRole]:
        return [a for a in self.assignments if a.revoked_at is None]

    def permission_grants(self) -> list[tuple[frozenset[str], int | None, int | None, int | None]]:
        """(permissions, study id, site id, site's study id) per active assignment, kept by the
        process while no grant, role, permission or site changed (core.stamps)."""
        return kept("grants").get(self.id, self._load_permission_grants)

    def _load_permission_grants(self) -> list[tuple[frozenset[str], int | None, int | None,
                                                    int | None]]:
        return [
            (frozenset(a.role.permission_names), a.study_id, a.site_id,
             a.site.study_id if a.site is not None else None)
            for a in self.active_assignments()
        ]

    @classmethod
    def by_username(cls, username: Any) -> User | None:
        """The account with this username (stripped), active or not, or None.

        :param username: what was typed or sent; anything but a username finds nothing.
        """
        return row_by_text(cls, cls.username, username)

    @classmethod
    def by_id(cls, user_id: Any) -> User | None:
        """The account with this id (an int or a string of digits), or None."""
        return row_by_id(cls, user_id)

    @classmethod
    def active_people(cls) -> list[User]:
        """Every active person (service principals left out), by id: e.g. for a sweep."""
        return list(db.session.scalars(select(cls).where(
            cls.active.is_(True), cls.is_service.is_(False)).order_by(cls.id)))

    @classmethod
    def in_scope(cls, viewer: Any, permission: str, *, role: str | None = None,
                 study: Any = None, site: Any = None, username: str | None = None,
                 after: str | None = None, limit: int | None = None,
                 former: bool = False) -> list[User]:
        """People holding a role granted where ``viewer`` holds ``permission`` (the people a
        matrix or report of theirs may show), by username.

        Unlike ``users_holding`` (who covers a scope), this asks where the grant itself lies.

        :param role: a role key: grants of that role only.
        :param study: a ``Study`` or id: grants for the study or at one of its sites.
        :param site: a ``Site`` or id: grants at that site (``study`` is then ignored).
        :param username: that person only.
        :param after: keyset paging: usernames after this one.
        :param limit: at most this many (ask one more to know whether a next page exists).
        :param former: count revoked grants and deactivated people too (past training).
        """
        if (role is not None and lookup_text(role) is None) or (
                username is not None and lookup_text(username) is None) or "\x00" in (after or ""):
            return []
        grant = [UserRole.user_id == cls.id,
                 scope_clause(viewer, permission, UserRole.study_id, UserRole.site_id)]
        stmt = select(cls).options(selectinload(cls.assignments))
        if not former:
            grant.append(UserRole.revoked_at.is_(None))
            stmt = stmt.where(cls.active.is_(True), cls.is_service.is_(False))
        if role is not None:
            grant.append(UserRole.role_id.in_(select(Role.id).where(Role.key == role.strip())))
        site_id, study_id = getattr(site, "id", site), getattr(study, "id", study)
        if site_id is not None:
            grant.append(UserRole.site_id == site_id)
        elif study_id is not None:
            grant.append(or_(UserRole.study_id == study_id, UserRole.site_id.in_(
                select(Site.id).where(Site.study_id == study_id))))
        stmt = stmt.where(select(UserRole.id).where(*grant).exists())
        if username is not None:
            stmt = stmt.where(cls.username == username.strip())
        if after is not None:
            stmt = stmt.where(cls.username > after)
        stmt = stmt.order_by(cls.username)
        if limit is not None:
            stmt = stmt.limit(limit)
        return list(db.session.scalars(stmt))

    def __str__(self) -> str:
        return self.printed_name


class Permission(Base):
    __tablename__ = "core_permission"
    __audit__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    plugin: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def audit_label(self) -> str:
        return self.name

    def __str__(self) -> str:
        return self.name


class Role(Base):
    __tablename__ = "core_role"
    __audit__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    grants: Mapped[list[RolePermission]] = relationship(
        back_populates="role", lazy="selectin", cascade="all, delete-orphan"
    )

    @property
    def permission_names(self) -> list[str]:
        return sorted(g.permission.name for g in self.grants)

    @classmethod
    def by_key(cls, key: Any) -> Role | None:
        """The role with this key (stripped), or None.

        :param key: a role key such as ``"qa_manager"``; anything else finds nothing.
        """
        return row_by_text(cls, cls.key, key)

    @classmethod
    def pick_list(cls) -> list[Role]:
        """Every role, by key: the choices of a filter or a form."""
        return list(db.session.scalars(select(cls).order_by(cls.key)))

    def audit_label(self) -> str:
        return self.key

    def __str__(self) -> str:
        return self.label


class RolePermission(Base):
    __tablename__ = "core_role_permission"
    __audit__ = True
    __table_args__ = (UniqueConstraint("role_id", "permission_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("core_role.id"), index=True)
    permission_id: Mapped[int] = mapped_column(ForeignKey("core_permission.id"), index=True)

    role: Mapped[Role] = relationship(back_populates="grants")
    permission: Mapped[Permission] = relationship(lazy="joined")


class UserRole(Base):
    """A role held by a user, globally or within one study or one site; revoked, never deleted."""

    __tablename__ = "core_user_role"
    __audit__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"), index=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("core_role.id"), index=True)
    study_id: Mapped[int | None] = mapped_column(ForeignKey("core_study.id"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("core_site.id"), index=True)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id"))

    user: Mapped[User] = relationship(back_populates="assignments", foreign_keys=[user_id])
    role: Mapped[Role] = relationship(lazy="joined")
    study = relationship("Study", lazy="joined")
    site = relationship("Site", lazy="joined")

    @property
    def scope_label(self) -> str:
        if self.site is not None:
            return f"site {self.site.code} ({self.site.study.code})"
        if self.study is not None:
            return f"study {self.study.code}"
        return "all studies"

    def __str__(self) -> str:
        return f"{self.role.key} @ {self.scope_label}"


class UserSession(Base):
    """A server-side login session; the cookie carries a random token whose hash is the id."""

    __tablename__ = "core_user_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(40))
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(255), default="")


class PasswordHistory(Base):
    __tablename__ = "core_password_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

class ApiToken(Base):
    """``core_api_token``: a personal bearer token for the JSON API (only its SHA-256 is stored)."""

    __tablename__ = "core_api_token"
    __audit__ = True
    __audit_ignore__ = frozenset({"token_hash", "last_used_at"})

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # The first characters of the token, shown in lists so owners can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id"))

    user = relationship("User", foreign_keys=[user_id], lazy="joined")

    def audit_label(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def active(self) -> bool:
        return self.revoked_at is None and self.expires_at > utcnow()
