"""Error text fit to show a user, whoever shows it (an HTTP answer, a failed job).

Below the API and the job handlers alike: a worker reports a media failure with the
same sentence the API would answer, without importing the web framework.
"""

from __future__ import annotations

import os

from ml.media.decode import strip_log_addresses


def public_message(exc: Exception) -> str:
    """The error's sentence without server paths (uploads live under the data directory)
    and without the memory addresses of FFmpeg's log prefixes (``[wav @ 0x55d...]``)."""
    message = str(exc)
    path = getattr(exc, "path", None)
    if path:
        for form in (f"file:{path}", str(path), os.path.basename(str(path))):
            message = message.replace(form, "the file")
    return strip_log_addresses(message)
