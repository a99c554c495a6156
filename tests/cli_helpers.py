"""What several test modules share: running the `bench` CLI in-process, and a file server on 127.0.0.1."""
from __future__ import annotations

import contextlib
import http.server
import sys
import threading
from collections.abc import Iterator

from bench.cli import main


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """``bench ARGV`` as the console script runs it: (exit code, stdout, stderr)."""
    saved, sys.argv = sys.argv, ["bench", *argv]
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    finally:
        sys.argv = saved
    captured = capsys.readouterr()
    return code, captured.out, captured.err


class FileHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``files`` by name; a name in ``truncate`` sends a third of its body under the full length."""

    files: dict[str, bytes] = {}
    truncate: set[str] = set()

    def do_GET(self):  # noqa: N802  (http.server's name)
        name = self.path.lstrip("/")
        body = self.files.get(name)
        if body is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 3] if name in self.truncate else body)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def file_server() -> Iterator[str]:
    """A threaded server of :class:`FileHandler` on a free port of 127.0.0.1; yields its base URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FileHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    FileHandler.files, FileHandler.truncate = {}, set()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
