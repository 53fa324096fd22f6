"""Questions other apps ask about the organisation's own people."""

from .models import User


def is_internal_address(address: str) -> bool:
    """Mail from a Postroom user is the organisation talking, never a new customer."""
    return User.objects.filter(email__iexact=address.strip()).exists()
