from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email

from accounts import local_issuer


class Command(BaseCommand):
    help = "Print a session token from the built-in local issuer for EMAIL (and nothing else)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument(
            "--lifetime",
            type=int,
            default=3600,
            help="Token lifetime in seconds (default 3600).",
        )

    def handle(self, *args: Any, email: str, lifetime: int, **options: Any) -> None:
        if not settings.LOCAL_ISSUER_ENABLED:
            raise CommandError(
                "The local issuer is disabled (Clerk is configured or LOCAL_ISSUER=false)."
            )
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"{email!r} is not an email address") from None
        if lifetime < 1:
            raise CommandError("--lifetime must be a positive number of seconds")
        self.stdout.write(local_issuer.mint_token(email, lifetime_seconds=lifetime))
