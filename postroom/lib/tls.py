"""The TLS settings of every connection Postroom opens to a mail server."""

import logging
import ssl

logger = logging.getLogger(__name__)


def client_context(allow_self_signed: bool, *, peer: str = "") -> ssl.SSLContext:
    """One context per connection, for IMAP (sync and push) and SMTP alike.

    By default the system's trusted CAs and a host name check (ssl.create_default_context).
    With ``allow_self_signed`` any certificate is accepted, but the connection is still
    encrypted with the same protocol floor; since that gives up the protection against a
    man in the middle, it is logged as a warning for ``peer`` each time (each connection
    makes its own context, so: once per connection).
    """
    context = ssl.create_default_context()
    if allow_self_signed:
        # check_hostname first: ssl refuses CERT_NONE while it is on. A self-signed
        # certificate rarely names the host as it is reached, so the name goes unchecked too.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        logger.warning(
            "TLS with %s: the server's certificate is not verified, because this mailbox "
            "allows self-signed certificates",
            peer or "a mail server",
        )
    return context
