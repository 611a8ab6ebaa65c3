"""Re-encrypt every stored credential, and every person's linked upstream account (their
OAuth tokens), under the newest key (CREDENTIALS_ENCRYPTION_KEYS[0]).

Safe to re-run: rows already sealed by the newest key are skipped, each batch commits on its
own, and a row that cannot be decrypted is reported and left as it is. After a clean run the
older keys can be removed from the settings.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from credentials import crypto
from credentials.models import Connection, Credential

KINDS: list[tuple[type[Any], str]] = [
    (Credential, "credential(s)"),
    (Connection, "linked upstream account(s)"),
]


class Command(BaseCommand):
    help = "Re-encrypt all upstream credentials under the newest encryption key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = max(1, int(options["batch_size"]))
        newest = crypto.keyring().newest_id
        failures = 0
        for model, what in KINDS:
            rotated = failed = 0
            last_id = None
            while True:
                batch_rotated, batch_failed, last_id = self._rotate_batch(
                    model, newest, last_id, batch_size
                )
                rotated += batch_rotated
                failed += batch_failed
                if last_id is None:
                    break
            current = model._default_manager.filter(key_id=newest).count() - rotated
            self.stdout.write(
                f"Re-encrypted {rotated} {what} under key {newest}; "
                f"{current} already used it; {failed} could not be decrypted."
            )
            failures += failed
        if failures:
            raise CommandError(
                f"{failures} credential(s) could not be decrypted: configure the key they name "
                "(see the log) and run the command again."
            )

    def _rotate_batch(
        self, model: type[Any], newest: str, after: Any, size: int
    ) -> tuple[int, int, Any]:
        """Rotate the next batch (by id); returns counts and the last id seen (None when done)."""
        rotated = failed = 0
        with transaction.atomic():
            rows = model._default_manager.select_for_update().exclude(key_id=newest).order_by("id")
            if after is not None:
                rows = rows.filter(id__gt=after)
            batch = list(rows.only("id", "key_id", "ciphertext", "server_id")[:size])
            changed = []
            for row in batch:
                try:
                    row.key_id, row.ciphertext = crypto.reencrypt(row.key_id, row.ciphertext)
                except crypto.DecryptionFailed as exc:
                    failed += 1
                    self.stderr.write(f"{model.__name__} {row.id} (server {row.server_id}): {exc}")
                    continue
                changed.append(row)
            model._default_manager.bulk_update(changed, ["key_id", "ciphertext"])
            rotated = len(changed)
        return rotated, failed, batch[-1].id if len(batch) == size else None
