"""The second factor of a login: TOTP (an authenticator app) and recovery codes.

A user who has confirmed an authenticator is logged in only after the password *and* a
code (web.login_views); a session that is not verified by a code is not let in
(middleware.SecondFactorMiddleware). With POSTROOM_REQUIRE_ADMIN_2FA an administrator
without an authenticator is sent to set one up before anything else.
"""
