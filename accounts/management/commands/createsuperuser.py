"""Create an operator account that signs in to the admin with its email address.

Replaces Django's `createsuperuser`, which would ask for the Clerk user id (the user model's
identity field): operators are not Clerk users, so their id is made up here.

    manage.py createsuperuser [--email EMAIL] [--noinput]

With --noinput the password comes from DJANGO_SUPERUSER_PASSWORD (and the email from
DJANGO_SUPERUSER_EMAIL when --email is not given).
"""

from __future__ import annotations

import getpass
import os
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email

from accounts.models import User


class Command(BaseCommand):
    help = "Create an operator (admin) account that signs in with its email address."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", help="The operator's email address (their sign-in).")
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Ask nothing: DJANGO_SUPERUSER_EMAIL / DJANGO_SUPERUSER_PASSWORD.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        interactive = options["interactive"]
        email = options["email"] or os.environ.get("DJANGO_SUPERUSER_EMAIL", "")
        if interactive:
            while not email:
                email = input("Email address: ").strip()
        email = self._checked_email(email)
        if interactive:
            password = self._ask_password()
        else:
            password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
            if not password:
                raise CommandError("Set DJANGO_SUPERUSER_PASSWORD (or run without --noinput).")
            self._checked_password(password)
        User.objects.create_superuser(email=email, password=password)
        self.stdout.write(f"Operator {email} created; sign in at /admin/ with this email.")

    def _checked_email(self, email: str) -> str:
        email = email.strip()
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"Not an email address: {email!r}") from None
        if User.objects.filter(email__iexact=email, is_staff=True).exists():
            raise CommandError(
                f"An operator with the email {email} already exists "
                "(change their password in the admin: Users, then the operator's page)."
            )
        return email

    def _ask_password(self) -> str:
        while True:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                self.stderr.write("The passwords do not match.")
                continue
            try:
                self._checked_password(password)
            except CommandError as error:
                self.stderr.write(str(error))
                continue
            return password

    def _checked_password(self, password: str) -> None:
        try:
            validate_password(password, User(email="operator@example.com"))
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
