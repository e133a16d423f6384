"""The loopback HTTP server every SDK-vouched double is built on (incydr_sdk_double.py,
audit_log_doubles.py): one thread per connection, each request handed to the double's
`route(method, path, query, headers, body)`, which answers `(status, JSON text, headers)` or
raises `Violation` for a request the vendor's SDK would not send. Violations, and the double's
own failures, are recorded for the test to fail on."""
import http.server
import json
import threading
import urllib.parse


class Violation(Exception):
    """A request the vendor's SDK would not send."""


class SDKDouble:
    def __init__(self):
        self.lock = threading.Lock()
        self.violations = []
        double = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle(self):
                try:
                    super().handle()
                except (ConnectionResetError, BrokenPipeError):
                    pass  # a client killed with SIGKILL

            def do_GET(self):
                double.handle(self, "GET")

            def do_POST(self):
                double.handle(self, "POST")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_port
        self.base_url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def violation_body(self, message):
        """The answer to a request the SDK would not send, in the vendor's error shape."""
        return json.dumps({"error": f"not a request the SDK sends: {message}"})

    def handle(self, handler, method):
        parsed = urllib.parse.urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        try:
            status, payload, headers = self.route(method, parsed.path, query, handler.headers, body)
        except Violation as violation:
            with self.lock:
                self.violations.append(f"{method} {handler.path[:200]}: {violation}")
            status, payload, headers = 400, self.violation_body(str(violation)), {}
        except Exception as error:  # the double's own bug fails the test, not only the request
            with self.lock:
                self.violations.append(f"{method} {handler.path[:200]}: the double failed: {str(error)[:2000]}")
            status, payload, headers = 500, json.dumps({"error": "the test double failed"}), {}
        data = payload.encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client was killed mid-request

    def route(self, method, path, query, headers, body):
        raise NotImplementedError
