from django.conf import settings
from django.db import models


class RecoveryCode(models.Model):
    """One single-use code that stands in for the authenticator, stored as its SHA-256.

    The codes are random (60 bits each), so a plain hash is enough to make a leaked
    database useless for logging in; they are shown once, when they are made.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery_codes"
    )
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "code_hash"], name="twofactor_code_once")
        ]

    def __str__(self) -> str:
        return f"recovery code of {self.user_id}{' (used)' if self.used_at else ''}"
