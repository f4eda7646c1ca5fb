# /etc/jupyter/jupyter_notebook_config.py of rensei/notebook: the system-wide
# part of the notebook server's configuration (the rest is on the command line
# that notebook-start builds).
#
# Notebook 6.4 logs the full request URI of refused, redirected and failed
# requests (its access log, and tornado's HTTPError warnings), so a wrong or
# right ?token=... would land in the container's log. Both are logged here
# with every token value replaced.
import re

import tornado.web
from notebook.log import log_request

_TOKEN = re.compile(r"((?:^|[?&;])token=)[^&;\s]*", re.IGNORECASE)


def _hide_tokens(s):
    return _TOKEN.sub(r"\1[hidden]", s)


def _log_request_without_token(handler):
    from notebook.notebookapp import NotebookApp

    app = NotebookApp.instance()
    request = handler.request
    uri = request.uri
    request.uri = _hide_tokens(uri)
    try:
        log_request(handler, log=app.log, log_json=app.log_json)
    finally:
        request.uri = uri


_request_summary = tornado.web.RequestHandler._request_summary
tornado.web.RequestHandler._request_summary = lambda self: _hide_tokens(_request_summary(self))

c.NotebookApp.tornado_settings = {"log_function": _log_request_without_token}  # noqa: F821
