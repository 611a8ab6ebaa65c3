"""An account's end: deactivate it (Clerk's user.deleted, the admin action) or delete it.

These reach into every app that holds a user's data (servers, keys, credentials, billing), so
they sit above all of them; the accounts app itself knows only users and their API tokens.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import ApiToken, User
from authz.selectors import user_grant_list
from authz.services import authorizations_revoke
from core.invalidation import server_changed
from credentials.models import Connection, Credential
from servers.models import AccessKey, Server


def user_deactivate(*, user: User) -> None:
    """Shut an account down: deactivate, disable servers, revoke keys, tokens and OAuth grants,
    drop credentials and linked upstream accounts (theirs anywhere, and everyone's on their
    servers; the tokens are forgotten, not revoked at the provider).

    The user is kept (their request logs stay for the retention period), and every gateway
    worker stops serving their servers at its next check. Their subscription is cancelled.
    """
    now = timezone.now()
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=False, updated_at=now)
        User.objects.filter(pk=user.pk, deactivated_at__isnull=True).update(deactivated_at=now)
        servers = Server.objects.filter(user=user)
        names = [name for slug, pk in servers.values_list("slug", "id") for name in (slug, str(pk))]
        servers.filter(status="active").update(
            status="disabled", config_version=F("config_version") + 1, updated_at=now
        )
        AccessKey.objects.filter(server__user=user, revoked_at__isnull=True).update(
            revoked_at=now, updated_at=now
        )
        ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(
            revoked_at=now, updated_at=now
        )
        Credential.objects.filter(server__user=user).delete()
        linked = Connection.objects.filter(Q(user=user) | Q(server__user=user))
        names += [str(server_id) for server_id in linked.values_list("server_id", flat=True)]
        linked.delete()
        # Their OAuth grants, on any server: the gateway refuses those tokens within seconds.
        authorizations_revoke(authorizations=list(user_grant_list(user=user)))
        server_changed(*names)
        user_id = str(user.pk)
        # Imported here: the task module loads Stripe's SDK, which a web worker never needs.
        from billing.tasks import cancel_subscription

        transaction.on_commit(lambda: cancel_subscription.delay(user_id))
    user.is_active = False


def user_delete(*, user: User) -> None:
    """Delete a user with everything they own; the gateway drops their servers at its next check."""
    with transaction.atomic():
        servers = Server.objects.filter(user=user).values_list("slug", "id")
        server_changed(*(name for slug, pk in servers for name in (slug, str(pk))))
        user.delete()
