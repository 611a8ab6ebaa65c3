from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import QuerySet
from django.utils import timezone

from core.models import TimestampedModel


def operator_clerk_id() -> str:
    """The identity of an operator made in Specgate rather than by Clerk."""
    return f"operator_{uuid.uuid4().hex}"


def staff_with_email(email: str) -> QuerySet[User]:
    """The operator accounts that sign in to the admin with EMAIL (case-insensitive)."""
    return User.objects.filter(email__iexact=email.strip(), is_staff=True)


class UserManager(BaseUserManager["User"]):
    def create_user(self, clerk_id: str, email: str = "", **extra: Any) -> User:
        user = self.model(clerk_id=clerk_id, email=self.normalize_email(email), **extra)
        user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(
        self,
        clerk_id: str | None = None,
        email: str = "",
        password: str | None = None,
        **extra: Any,
    ) -> User:
        """An operator: signs in to the admin with EMAIL; the Clerk id is made up when not given
        (operators need no Clerk account)."""
        if not email:
            raise ValueError("An operator needs an email address to sign in with.")
        user = self.model(
            clerk_id=clerk_id or operator_clerk_id(),
            email=self.normalize_email(email),
            is_staff=True,
            is_superuser=True,
            **extra,
        )
        user.set_password(password)
        user.save(using=self._db)
        return user


class User(AbstractBaseUser, PermissionsMixin):
    """A Specgate user, keyed by the identity provider's user id (the token's `sub`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clerk_id = models.CharField("Clerk user id", max_length=255, unique=True)
    email = models.EmailField(blank=True, db_index=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "clerk_id"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["email"]

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.email or self.clerk_id

    def get_short_name(self) -> str:
        """How the admin greets an operator: never by the Clerk id."""
        return self.first_name or self.email or self.clerk_id


class ApiToken(TimestampedModel):
    """A personal API token (sgp_...) for scripts; stored as a hash only."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_usable(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
