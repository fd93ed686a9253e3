"""Account tables. Users are never hard-deleted and usernames are never reused."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UTCDateTime, utcnow


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
    def printed_name(self) -> str:
        return f"{self.full_name} ({self.username})"

    def audit_label(self) -> str:
        return self.username

    def active_assignments(self) -> list[UserRole]:
        return [a for a in self.assignments if a.revoked_at is None]

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
