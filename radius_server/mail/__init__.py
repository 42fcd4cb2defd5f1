"""PIN reminder emails: the editable template, message building, SMTP sending.

``template`` is pure (parse, validate, render); ``message`` builds the MIME
message; ``sender`` talks SMTP with a rate limit; ``store`` keeps the one shared
template in the database; ``reminders`` ties them together for the CLI.
"""
