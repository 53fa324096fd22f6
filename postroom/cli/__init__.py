"""The operator's commands under `postroom`: run, worker, jobs, user, mailbox, sync.

Like web and api, the CLI is an entry point: it may call every app's services and
nothing imports it. Commands stay thin.
"""
