"""``kerashpo dashboard``: optuna-dashboard on a search's own Optuna storage, on loopback.

The trials' learning curves are there already: the Optuna driver reports each epoch's objective to its trial
(for pruning), and the dashboard plots those intermediate values per trial.
"""

from __future__ import annotations

import socketserver
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from kerashpo.pipelines.web.local_web import base_url, check_port_free, open_in_browser, sigterm_as_interrupt
from kerashpo.search.drivers.optuna_storage import open_existing_storage, study_id
from kerashpo.search.redaction import redact_url
from kerashpo.spaces import UserError

INSTALL_HINT = "optuna-dashboard is not installed: pip install 'kerashpo[dashboard]'"


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a page still loading does not hold up Ctrl-C


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # one line per request would bury the address
        pass


def serve(storage: str, study: str | None, host: str, port: int, open_browser: bool) -> int:
    """Serve the dashboard until Ctrl-C, at ``study``'s page when one is named, else at the list of studies."""
    try:
        import optuna_dashboard
    except ImportError:
        raise UserError(INSTALL_HINT) from None
    opened = open_existing_storage(storage)
    where = redact_url(storage)
    path = f"/dashboard/studies/{study_id(opened, study, where)}" if study else "/dashboard/"
    check_port_free(host, port)
    server = make_server(host, port, optuna_dashboard.wsgi(opened), server_class=_Server, handler_class=_QuietHandler)
    url = base_url(host, port) + path
    print(f"optuna-dashboard over {where} (Ctrl-C to stop):\n{url}", flush=True)
    if open_browser:
        open_in_browser(url)
    try:
        with sigterm_as_interrupt():
            server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
