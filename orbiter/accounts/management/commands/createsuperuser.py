"""Django's createsuperuser, whose password from DJANGO_SUPERUSER_PASSWORD (--noinput) also
passes AUTH_PASSWORD_VALIDATORS: Django checks only the one typed at the prompt."""

import os

from django.contrib.auth import get_user_model
from django.contrib.auth.management.commands import createsuperuser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError


class Command(createsuperuser.Command):
    def handle(self, *args, **options):
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        if not options["interactive"] and password is not None:
            users = get_user_model()
            username = options.get(users.USERNAME_FIELD) or os.environ.get(
                "DJANGO_SUPERUSER_" + users.USERNAME_FIELD.upper(), "")
            try:
                validate_password(password, users(**{users.USERNAME_FIELD: username}))
            except ValidationError as refusal:
                raise CommandError("DJANGO_SUPERUSER_PASSWORD: " + " ".join(refusal.messages)) from None
        return super().handle(*args, **options)
