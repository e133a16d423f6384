"""Doubles of four vendors' audit-log APIs that the vendors' own SDKs vouch for.

Each double serves one vendor's listing as the vendor documents it (auth, paging, record shape),
checks every request against what the vendor's SDK sends (its parameters, their types and
patterns, the signature or token), and builds its answers from the SDK's models (Okta's
`LogEvent`, Slack's `LogsResponse`) or the API's discovery document (Google's `Activities`),
or, for Duo, whose SDK has no models, from the shapes its client reads. `vouch_*` runs the SDK's
own client against the double, which must read every record back.

Faults every double can inject: 429 with Retry-After, 500, a rejected credential (an expired
token: Google's access tokens expire early and are fetched again; the static keys of Okta, Slack
and Duo are refused until `credential_valid` is set again), a page that repeats the previous
one's records, an empty last page, and a delay per page (for kill -9 mid-run).
"""
import asyncio
import base64
import email.utils
import hashlib
import json
import os
import secrets
import sys
import time
import urllib.parse
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sdk_double import SDKDouble, Violation  # noqa: E402


def iso(epoch, millis=True):
    text = datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return (text[:-3] if millis else text[:-7]) + "Z"


def parse_iso(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class AuditLogDouble(SDKDouble):
    """The faults and the bookkeeping the four doubles share."""

    def __init__(self):
        super().__init__()
        self.records = []          # (sort key, epoch, json text as served)
        self.throttle_every = 0
        self.fail_every = 0
        self.repeat_every = 0      # every Nth continued page first repeats the previous page
        self.empty_last_page = True
        self.credential_valid = True
        self.page_delay = 0.0
        self.tokens = {}           # issued page token -> (query fingerprint, offset)
        self.access_tokens = {}    # OAuth access token -> when it stops being accepted
        self.reset_stats()

    def reset_stats(self):
        with self.lock:
            self.stats = {"data_requests": 0, "pages": 0, "status_401": 0, "status_429": 0, "status_500": 0, "repeats": 0,
                          "empty_pages": 0, "token_requests": 0}

    def served_items(self):
        with self.lock:
            return [text for _, _, text in self.records]

    def expire_access_tokens(self):
        """Every access token issued so far stops being accepted now (the OAuth doubles), long
        before the hour the token endpoint advertised."""
        with self.lock:
            for token in self.access_tokens:
                self.access_tokens[token] = 0.0

    def add(self, key, epoch, record, compact=True):
        # Some vendors answer with spaces after ',' and ':': the stored raw bytes must be those.
        text = json.dumps(record, separators=(",", ":")) if compact else json.dumps(record)
        with self.lock:
            self.records.append((key, epoch, text))
            self.records.sort(key=lambda r: r[0])
        return text

    def fault(self, throttled_headers=None):
        """The next data request's injected fault, if any: (status, payload, headers) or None. A
        429 carries `Retry-After: 1`, or `throttled_headers` instead when given (Okta's)."""
        with self.lock:
            self.stats["data_requests"] += 1
            n = self.stats["data_requests"]
            if self.throttle_every and n % self.throttle_every == 0:
                self.stats["status_429"] += 1
                return 429, self.error_body(429), throttled_headers or {"Retry-After": "1"}
            if self.fail_every and n % self.fail_every == 0:
                self.stats["status_500"] += 1
                return 500, self.error_body(500), {}
        return None

    def refuse_credential(self):
        with self.lock:
            self.stats["status_401"] += 1
        return 401, self.error_body(401), {}

    def page(self, matching, offset, size, fingerprint):
        """The records of one page from `offset`, and the token of the next one (None at the
        end). A repeat fault answers with the previous page's records and a fresh token for
        this same offset; the last page leads to an empty one when `empty_last_page`."""
        time.sleep(self.page_delay)
        with self.lock:
            self.stats["pages"] += 1
            items = matching[offset:offset + size]
            if self.repeat_due(offset > 0 and items):
                return matching[max(0, offset - size):offset], self.issue(fingerprint, offset)
            if not items:
                self.stats["empty_pages"] += 1
            end = offset + len(items)
            if end < len(matching) or (items and self.empty_last_page and end == len(matching)):
                return items, self.issue(fingerprint, end)
            return items, None

    def repeat_due(self, eligible):
        """Whether this page repeats the previous one: every `repeat_every`th page that
        continues a listing and has records (call with the lock held)."""
        if not (self.repeat_every and eligible):
            return False
        self.stats["continued"] = self.stats.get("continued", 0) + 1
        if self.stats["continued"] % self.repeat_every:
            return False
        self.stats["repeats"] += 1
        return True

    def issue(self, fingerprint, offset):
        token = secrets.token_urlsafe(12)
        self.tokens[token] = (fingerprint, offset)
        return token

    def redeem(self, token, fingerprint):
        with self.lock:
            found = self.tokens.get(token)
        if found is None:
            raise Violation(f"page token {token[:20]!r} was never issued")
        if found[0] != fingerprint:
            raise Violation("a page token sent with a query other than the one it was issued for")
        return found[1]

    @staticmethod
    def one(query, name, required=False):
        values = query.get(name)
        if values is None:
            if required:
                raise Violation(f"{name} is missing")
            return None
        if len(values) != 1:
            raise Violation(f"{name} is sent {len(values)} times")
        return values[0]

    @staticmethod
    def integer(text, name, low=None, high=None):
        try:
            value = int(text)
        except (TypeError, ValueError):
            raise Violation(f"{name}={text!r} is not an integer")
        if (low is not None and value < low) or (high is not None and value > high):
            raise Violation(f"{name}={value} is outside {low}..{high}")
        return value

    @staticmethod
    def only(query, allowed):
        unknown = sorted(set(query) - set(allowed))
        if unknown:
            raise Violation(f"parameters the SDK does not send: {unknown}")


# Okta: System Log (`GET /api/v1/logs`), records built with the `okta` SDK's LogEvent model.

class OktaDouble(AuditLogDouble):
    def __init__(self, token, client_id=None, token_lifetime=3600.0):
        super().__init__()
        self.token = token
        # A service app (OAuth 2.0 client credentials with private_key_jwt): its key pair, the
        # access tokens issued and the assertion ids seen (Okta refuses a jti used twice).
        self.client_id, self.token_lifetime = client_id, token_lifetime
        self.jtis, self.refused_assertions = set(), []
        if client_id:
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric import rsa
            self.app_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.app_key_pem = self.app_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()).decode()
        from okta.api.system_log_api import SystemLogApi
        import inspect
        # The query parameters the SDK's list_log_events sends (sort_order goes as sortOrder).
        names = [p for p in inspect.signature(SystemLogApi.list_log_events).parameters if not p.startswith("_") and p != "self"]
        self.allowed = {"sortOrder" if p == "sort_order" else p for p in names}

    @staticmethod
    def error_body(status):
        summary = {401: "Invalid token provided", 429: "API call exceeded rate limit due to too many requests.", 500: "Internal Server Error"}[status]
        return json.dumps({"errorCode": {401: "E0000011", 429: "E0000047", 500: "E0000009"}[status], "errorSummary": summary,
                           "errorLink": "E0000011", "errorId": secrets.token_hex(8), "errorCauses": []})

    def issue_access_token(self, headers, body):
        return okta_issue_access_token(self, headers, body)

    def add_events(self, count, start, spacing):
        from okta.models import LogEvent
        for i in range(count):
            epoch = start + i * spacing
            uuid = f"{secrets.token_hex(4)}-{i:04x}-11ef-{secrets.token_hex(2)}-{secrets.token_hex(6)}"
            record = {
                "uuid": uuid, "published": iso(epoch), "eventType": ["user.session.start", "user.authentication.sso", "policy.evaluate_sign_on"][i % 3],
                "version": "0", "severity": "INFO", "displayMessage": "User login to Okta", "legacyEventType": "core.user_auth.login_success",
                "actor": {"id": f"00u{i % 40:017d}", "type": "User", "alternateId": f"user{i % 40}@example.com", "displayName": f"User {i % 40}"},
                "client": {"ipAddress": f"198.51.100.{i % 250}", "userAgent": {"rawUserAgent": "Mozilla/5.0 (X11; Linux x86_64)", "os": "Linux", "browser": "CHROME"},
                           "zone": "null", "device": "Computer"},
                "outcome": {"result": "SUCCESS"},
                "target": [{"id": f"0oa{i % 7:017d}", "type": "AppInstance", "alternateId": "Sluice", "displayName": "Sluice"}],
                "transaction": {"type": "WEB", "id": secrets.token_hex(8)},
            }
            known_to_model(LogEvent.from_dict(record), record, "LogEvent")
            # Okta pages a polling query in the order events were stored (persistence time),
            # so an event stored later always comes after a cursor already handed out.
            self.add((len(self.records), uuid), epoch, record, compact=False)

    def route(self, method, path, query, headers, body):
        if (method, path) == ("POST", "/oauth2/v1/token") and self.client_id:
            return self.issue_access_token(headers, body)
        if (method, path) != ("GET", "/api/v1/logs"):
            raise Violation("the SDK has no such endpoint")
        self.only(query, self.allowed)
        # Okta documents `SSWS <token>`; the okta SDK 3.x sends `SSWS<token>` (its generated
        # auth settings join the mode and the token without a space), which Okta takes too.
        auth = headers.get("Authorization", "")
        if self.client_id:
            with self.lock:
                expiry = self.access_tokens.get(auth[len("Bearer "):]) if auth.startswith("Bearer ") else None
            if expiry is None or expiry < time.time():
                return self.refuse_credential()
        elif auth not in (f"SSWS {self.token}", f"SSWS{self.token}") or not self.credential_valid:
            return self.refuse_credential()
        # Okta's 429 says when the window resets (X-Rate-Limit-Reset, in the server's clock
        # given by Date); it sends no Retry-After.
        reset = str(int(time.time()) + 1)
        fault = self.fault({"X-Rate-Limit-Limit": "120", "X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": reset,
                            "Date": email.utils.formatdate(usegmt=True)})
        if fault:
            return fault
        since = self.one(query, "since")
        until = self.one(query, "until")
        limit = self.integer(self.one(query, "limit") or "100", "limit", 1, 1000)
        order = self.one(query, "sortOrder") or "ASCENDING"
        if order not in ("ASCENDING", "DESCENDING"):
            raise Violation(f"sortOrder={order!r}")
        try:
            low = parse_iso(since) if since else time.time() - 7 * 86400
            high = parse_iso(until) if until else None
        except ValueError:
            raise Violation(f"since/until {since!r}/{until!r} are not ISO 8601")
        fingerprint = (since, until, limit, order)
        after = self.one(query, "after")
        offset = self.redeem(after, fingerprint) if after else 0
        with self.lock:
            matching = [text for _, epoch, text in self.records if epoch >= low and (high is None or epoch < high)]
        if order == "DESCENDING":
            matching.reverse()
        items, token = self.page(matching, offset, limit, fingerprint)
        # Okta links a next page on every page of a polling query (no `until`).
        if token is None and until is None:
            token = self.issue(fingerprint, offset + len(items))
        params = {"since": since, "until": until, "limit": limit, "sortOrder": order}
        link_query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        links = [f'<{self.base_url}/api/v1/logs?{link_query}>; rel="self"']
        if token is not None:
            links.append(f'<{self.base_url}/api/v1/logs?{link_query}&after={token}>; rel="next"')
        return 200, "[" + ",".join(items) + "]", {"Link": ", ".join(links)}


def jwt_parts(token):
    def decoded(part):
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    head, claims, signature = token.split(".")
    return json.loads(decoded(head)), json.loads(decoded(claims)), decoded(signature), f"{head}.{claims}".encode()


def okta_issue_access_token(double, headers, body):
    """Okta's org authorization server for a service app: client credentials proven by a JWT
    the app signed (private_key_jwt), checked with the app's public key, scope okta.logs.read."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    with double.lock:
        double.stats["token_requests"] += 1
    form = urllib.parse.parse_qs(body.decode())
    expected = {"grant_type": ["client_credentials"], "client_assertion_type": ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]}
    if any(form.get(k) != v for k, v in expected.items()) or len(form.get("client_assertion", [])) != 1:
        raise Violation(f"not a private_key_jwt client credentials request: {sorted(form)}")
    if form.get("scope") != ["okta.logs.read"]:
        return 400, json.dumps({"error": "invalid_scope", "error_description": "The System Log needs okta.logs.read."}), {}
    header, claims, signature, signed = jwt_parts(form["client_assertion"][0])
    try:
        double.app_key.public_key().verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    except Exception:
        return 401, json.dumps({"error": "invalid_client", "error_description": "The client_assertion signature is invalid."}), {}
    now = time.time()
    problems = [name for name, ok in [
        ("alg", header.get("alg") == "RS256"), ("iss", claims.get("iss") == double.client_id), ("sub", claims.get("sub") == double.client_id),
        ("aud", claims.get("aud") == double.base_url + "/oauth2/v1/token"),
        ("exp", claims.get("iat", 0) - 300 <= now < claims.get("exp", 0) and claims.get("exp", 0) - claims.get("iat", 0) <= 3600),
        ("jti", bool(claims.get("jti")) and claims.get("jti") not in double.jtis),
    ] if not ok]
    if problems:
        with double.lock:
            double.refused_assertions.append(problems)
        return 401, json.dumps({"error": "invalid_client", "error_description": f"The client_assertion is invalid: {problems}"}), {}
    token = secrets.token_urlsafe(32)
    with double.lock:
        double.jtis.add(claims["jti"])
        double.access_tokens[token] = now + double.token_lifetime
    return 200, json.dumps({"token_type": "Bearer", "expires_in": 3600, "access_token": token, "scope": "okta.logs.read"}), {}


def known_to_model(model, data, where):
    """Every member of `data` is a field of the okta SDK's pydantic `model` read from it (by its
    alias), recursively, and the model kept its value: nothing the SDK would not know or drop."""
    fields = {(info.alias or name): name for name, info in type(model).model_fields.items()}
    for key, value in data.items():
        if key not in fields:
            raise AssertionError(f"{where}.{key} is not a field of {type(model).__name__}")
        member = getattr(model, fields[key])
        if isinstance(value, dict):
            known_to_model(member, value, f"{where}.{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    known_to_model(member[i], item, f"{where}.{key}[{i}]")
        elif member is None or (not hasattr(member, "value") and str(member) != str(value) and not hasattr(member, "isoformat")):
            raise AssertionError(f"{where}.{key}: the model read {member!r} from {value!r}")


def vouch_okta(double, checks, since):
    """The `okta` SDK's client reads the System Log from the double: every event, as LogEvent."""
    from okta.client import Client
    from okta.pagination import PaginationHelper

    async def read():
        # The SDK takes only https org URLs unless told it is testing, which it reads from the
        # environment (its documented OKTA_TESTING_TESTINGDISABLEHTTPSCHECK).
        os.environ["OKTA_TESTING_TESTINGDISABLEHTTPSCHECK"] = "true"
        if double.client_id:
            client = Client({"orgUrl": double.base_url, "authorizationMode": "PrivateKey", "clientId": double.client_id,
                             "scopes": ["okta.logs.read"], "privateKey": double.app_key_pem, "rateLimit": {"maxRetries": 3}})
        else:
            client = Client({"orgUrl": double.base_url, "token": double.token, "rateLimit": {"maxRetries": 3}})
        read, after = [], None
        for _ in range(1000):
            events, response, error = await client.list_log_events(since=since, sort_order="ASCENDING", limit=1000, after=after)
            if error:
                raise AssertionError(f"the okta SDK failed: {error}")
            # A polling query always links a next page; an empty one means nothing more yet.
            if not events:
                break
            read.extend(events)
            after = PaginationHelper.extract_next_cursor(response.headers)
        return read

    read = asyncio.run(read())
    served = [json.loads(text)["uuid"] for text in double.served_items()]
    checks("okta: the SDK's client reads every event back, as LogEvent models, in order",
           [e.uuid for e in read] == served and all(type(e).__name__ == "LogEvent" for e in read), (len(read), len(served)))


# Slack: Audit Logs API (`GET /audit/v1/logs`), answers checked with slack_sdk's LogsResponse.

class SlackDouble(AuditLogDouble):
    def __init__(self, token):
        super().__init__()
        self.token = token
        import inspect
        from slack_sdk.audit_logs import AuditLogsClient
        self.allowed = {p for p in inspect.signature(AuditLogsClient.logs).parameters
                        if p not in ("self", "additional_query_params", "headers")}

    @staticmethod
    def error_body(status):
        return json.dumps({"ok": False, "error": {401: "invalid_auth", 429: "ratelimited", 500: "fatal_error"}[status]})

    def add_entries(self, count, start, spacing):
        entity_types = ["user", "channel", "file", "workspace"]
        for i in range(count):
            epoch = int(start + i * spacing)
            kind = entity_types[i % 4]
            entity = {"type": kind, kind: {"id": f"{kind[0].upper()}{i:08d}", "name": f"{kind}-{i % 50}"}}
            if kind == "file":
                entity[kind]["filetype"] = "pdf"
            if kind == "workspace":
                entity[kind]["domain"] = "acme"
            entry = {
                "id": f"{secrets.token_hex(4)}-{secrets.token_hex(2)}-{secrets.token_hex(2)}-{i:04x}-{secrets.token_hex(6)}",
                "date_create": epoch, "action": ["user_login", "file_downloaded", "channel_created", "user_created"][i % 4],
                "actor": {"type": "user", "user": {"id": f"W{i % 30:08d}", "name": f"user{i % 30}", "email": f"user{i % 30}@example.com"}},
                "entity": entity,
                "context": {"location": {"type": "enterprise", "id": "E12345678", "name": "Acme", "domain": "acme"},
                            "ua": "Mozilla/5.0 (Macintosh)", "ip_address": f"203.0.113.{i % 250}", "session_id": 1000 + i},
            }
            self.add((epoch, entry["id"]), epoch, entry)

    def route(self, method, path, query, headers, body):
        if (method, path) != ("GET", "/audit/v1/logs"):
            raise Violation("the SDK has no such endpoint")
        self.only(query, self.allowed)
        if headers.get("Authorization") != f"Bearer {self.token}" or not self.credential_valid:
            return self.refuse_credential()
        fault = self.fault()
        if fault:
            return fault
        oldest = self.one(query, "oldest")
        latest = self.one(query, "latest")
        low = self.integer(oldest, "oldest", 0) if oldest is not None else 0
        high = self.integer(latest, "latest", 0) if latest is not None else None
        limit = self.integer(self.one(query, "limit") or "100", "limit", 1, 9999)
        fingerprint = (oldest, latest, limit)
        cursor = self.one(query, "cursor")
        offset = self.redeem(cursor, fingerprint) if cursor else 0
        with self.lock:
            # Newest first, as Slack lists them; both ends inclusive.
            matching = [text for _, epoch, text in reversed(self.records) if epoch >= low and (high is None or epoch <= high)]
        items, token = self.page(matching, offset, limit, fingerprint)
        payload = '{"entries":[' + ",".join(items) + '],"response_metadata":{"next_cursor":' + json.dumps(token or "") + "}}"
        self.check_models(payload)
        return 200, payload, {}

    @staticmethod
    def check_models(payload):
        """The answer, read by slack_sdk's LogsResponse, has no member the models do not know."""
        from slack_sdk.audit_logs.v1.logs import LogsResponse

        def unknown(value, where):
            if isinstance(value, list):
                return [u for i, v in enumerate(value) for u in unknown(v, f"{where}[{i}]")]
            if hasattr(value, "unknown_fields"):
                found = [f"{where}.{k}" for k in value.unknown_fields]
                for name, member in vars(value).items():
                    if name != "unknown_fields":
                        found += unknown(member, f"{where}.{name}")
                return found
            return []

        found = unknown(LogsResponse(**json.loads(payload)), "response")
        if found:
            raise AssertionError(f"members slack_sdk's models do not know: {found[:5]}")


def vouch_slack(double, checks, oldest, latest):
    """slack_sdk's AuditLogsClient reads every entry from the double, with its own retries."""
    from slack_sdk.audit_logs import AuditLogsClient
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler
    client = AuditLogsClient(token=double.token, base_url=double.base_url + "/audit/v1/",
                             retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=3), ServerErrorRetryHandler(max_retry_count=3)])
    read, cursor = [], None
    for _ in range(1000):
        response = client.logs(oldest=oldest, latest=latest, limit=1000, cursor=cursor)
        body = response.typed_body
        read.extend(e.id for e in body.entries)
        cursor = body.response_metadata.next_cursor if body.response_metadata else None
        if not cursor:
            break
    served = [json.loads(text)["id"] for text in reversed(double.served_items())]
    checks("slack: slack_sdk's AuditLogsClient reads every entry back, newest first", read == served, (len(read), len(served)))


# Duo: Admin API logs, every request's signature checked with duo_client's own signing.

class DuoDouble(AuditLogDouble):
    LOGS = {
        "/admin/v2/logs/authentication": "authentication",
        "/admin/v1/logs/administrator": "administrator",
        "/admin/v2/logs/telephony": "telephony",
    }

    def __init__(self, integration_key, secret_key):
        super().__init__()
        self.integration_key, self.secret_key = integration_key, secret_key
        self.host = "127.0.0.1"
        self.logs = {"authentication": [], "administrator": [], "telephony": []}  # (sort key, epoch, text)

    @staticmethod
    def error_body(status):
        code, message = {401: (40103, "Invalid signature in request credentials"), 429: (42901, "Too Many Requests"),
                         500: (50000, "Internal server error")}[status]
        return json.dumps({"stat": "FAIL", "code": code, "message": message})

    def served_items(self):
        with self.lock:
            return [text for log in self.logs.values() for _, _, text in log]

    def add_log(self, log, key, epoch, record):
        text = json.dumps(record)  # with spaces, as Duo's answers come
        with self.lock:
            self.logs[log].append((key, epoch, text))
            self.logs[log].sort(key=lambda r: r[0])

    def add_authentications(self, count, start, spacing):
        for i in range(count):
            ms = int((start + i * spacing) * 1000)
            txid = f"{secrets.token_hex(4)}-{secrets.token_hex(2)}-{secrets.token_hex(2)}-{i:04x}-{secrets.token_hex(6)}"
            self.add_log("authentication", (ms, txid), ms / 1000, {
                "access_device": {"ip": f"192.0.2.{i % 250}", "location": {"city": "Ann Arbor", "state": "Michigan", "country": "United States"},
                                  "browser": "Chrome", "os": "Mac OS X"},
                "application": {"key": f"DIY{i % 5:017d}", "name": f"App {i % 5}"},
                "auth_device": {"ip": "192.0.2.200", "location": {"city": None, "state": None, "country": None}, "name": "+1 555-0100"},
                "event_type": "authentication", "factor": "duo_push", "reason": "user_approved", "result": "success",
                "timestamp": ms // 1000, "isotimestamp": iso(ms / 1000, millis=False).replace("Z", "+00:00"), "txid": txid,
                "user": {"key": f"DU{i % 25:018d}", "name": f"user{i % 25}", "groups": []},
            })

    def add_administrator(self, count, start, per_second):
        for i in range(count):
            epoch = int(start) + i // per_second
            self.add_log("administrator", (epoch, i), epoch, {
                "action": ["admin_login", "user_update", "integration_update"][i % 3], "description": json.dumps({"n": i}),
                "object": f"object-{i}", "timestamp": epoch, "username": f"Admin {i % 4}",
            })

    def add_telephony(self, count, start, spacing):
        for i in range(count):
            epoch = start + i * spacing
            tid = f"{secrets.token_hex(4)}-{secrets.token_hex(2)}-{secrets.token_hex(2)}-{i:04x}-{secrets.token_hex(6)}"
            self.add_log("telephony", (int(epoch * 1000), tid), epoch, {
                "context": "authentication", "credits": 1, "phone": "+15555550100", "telephony_id": tid,
                "ts": iso(epoch, millis=False).replace("Z", "+00:00"), "txid": secrets.token_hex(8), "type": ["sms", "phone"][i % 2],
            })

    def check_signature(self, method, path, query, headers):
        from duo_client.client import sign
        date = headers.get("Date")
        if not date:
            raise Violation("no Date header (the SDK signs one)")
        try:
            when = email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            raise Violation(f"Date {date!r} is not an RFC 2822 date")
        if abs(when - time.time()) > 300:
            return False
        expected = sign(self.integration_key, self.secret_key, method, self.host, path, date, 5, query, body="", digestmod=hashlib.sha512)
        return headers.get("Authorization") == expected

    def route(self, method, path, query, headers, body):
        log = self.LOGS.get(path)
        if method != "GET" or log is None:
            raise Violation("the SDK has no such endpoint")
        if not self.check_signature(method, path, query, headers) or not self.credential_valid:
            return self.refuse_credential()
        fault = self.fault()
        if fault:
            return fault
        time.sleep(self.page_delay)
        with self.lock:
            self.stats["pages"] += 1
            records = list(self.logs[log])
        if log == "administrator":
            self.only(query, ["mintime"])
            mintime = self.integer(self.one(query, "mintime", required=True), "mintime", 0)
            items = [text for (epoch, _), _, text in records if epoch >= mintime][:1000]
            return 200, '{"stat":"OK","response":[' + ",".join(items) + "]}", {}
        from duo_client.admin import VALID_AUTHLOG_REQUEST_PARAMS
        allowed = VALID_AUTHLOG_REQUEST_PARAMS if log == "authentication" else ["mintime", "maxtime", "limit", "sort", "next_offset", "account_id", "filters"]
        self.only(query, allowed)
        mintime = self.integer(self.one(query, "mintime", required=True), "mintime", 0)
        maxtime = self.integer(self.one(query, "maxtime", required=True), "maxtime", mintime)
        limit = self.integer(self.one(query, "limit") or "100", "limit", 1, 1000)
        sort = self.one(query, "sort") or "ts:desc"
        if sort not in ("ts:asc", "ts:desc"):
            raise Violation(f"sort={sort!r}")
        matching = [(key, text) for key, _, text in records if mintime <= key[0] <= maxtime]
        if sort == "ts:desc":
            matching.reverse()
        start = 0
        offset = self.one(query, "next_offset")
        if offset:
            parts = offset.split(",")
            if len(parts) != 2:
                raise Violation(f"next_offset={offset!r} is not 'timestamp,id'")
            mark = (self.integer(parts[0], "next_offset's timestamp"), parts[1])
            keys = [key for key, _ in matching]
            if mark not in keys:
                raise Violation(f"next_offset={offset!r} names no record served")
            start = keys.index(mark) + 1
        page = matching[start:start + limit]
        end = start + len(page)
        with self.lock:
            repeat = self.repeat_due(start > 0 and page)
        if repeat:
            # The previous page's records again, ahead of this one's.
            page = matching[max(0, start - limit):start] + page
        if not page:
            with self.lock:
                self.stats["empty_pages"] += 1
        items = [text for _, text in page]
        last = page[-1][0] if page else None
        more = end < len(matching) or (self.empty_last_page and end > start and end == len(matching))
        metadata = {"total_objects": len(matching)} if log == "authentication" else {"total_objects": {"relation": "eq", "value": len(matching)}}
        if more and last:
            metadata["next_offset"] = [str(last[0]), last[1]] if log == "authentication" else f"{last[0]},{last[1]}"
        listing = "authlogs" if log == "authentication" else "items"
        return 200, '{"stat":"OK","response":{"' + listing + '":[' + ",".join(items) + '],"metadata":' + json.dumps(metadata) + "}}", {}


def vouch_duo(double, checks, mintime):
    """duo_client's Admin client, signing as it does by default, reads all three logs back."""
    import duo_client
    admin = duo_client.Admin(ikey=double.integration_key, skey=double.secret_key, host=double.host, port=double.port, ca_certs="HTTP")
    now_ms = int(time.time() * 1000) + 60_000
    read = {"authentication": [], "telephony": []}
    for log in read:
        offset = None
        for _ in range(1000):
            if log == "authentication":
                page = admin.get_authentication_log(api_version=2, mintime=int(mintime * 1000), maxtime=now_ms, limit="1000", sort="ts:asc",
                                                    next_offset=offset)
                items, key = page["authlogs"], "txid"
            else:
                page = admin.get_telephony_log(mintime=int(mintime * 1000), api_version=2, maxtime=now_ms, limit=1000, sort="asc", next_offset=offset)
                items, key = page["items"], "telephony_id"
            read[log].extend(item[key] for item in items)
            offset = page["metadata"].get("next_offset")
            if isinstance(offset, list):
                offset = ",".join(offset)
            if not offset:
                break
    admin_read, since = set(), int(mintime)
    for _ in range(1000):
        rows = admin.get_administrator_log(mintime=since)
        admin_read.update(json.dumps({k: v for k, v in row.items() if k not in ("eventtype", "host")}) for row in rows)
        if len(rows) < 1000:
            break
        since = rows[-1]["timestamp"]
    with double.lock:
        served = {log: [text for _, _, text in rows] for log, rows in double.logs.items()}
    checks("duo: duo_client reads every authentication log back (v2, next_offset)",
           read["authentication"] == [json.loads(t)["txid"] for t in served["authentication"]], len(read["authentication"]))
    checks("duo: duo_client reads every telephony log back (v2, next_offset)",
           read["telephony"] == [json.loads(t)["telephony_id"] for t in served["telephony"]], len(read["telephony"]))
    checks("duo: duo_client reads every administrator log back (v1, by mintime)", admin_read == set(served["administrator"]), len(admin_read))


# Google Workspace: Admin SDK Reports activities.list, checked against the discovery document.

class GoogleDouble(AuditLogDouble):
    SCOPE = "https://www.googleapis.com/auth/admin.reports.audit.readonly"

    def __init__(self, subject, token_lifetime=3600.0):
        super().__init__()
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        import googleapiclient
        import os
        discovery = os.path.join(os.path.dirname(googleapiclient.__file__), "discovery_cache", "documents", "admin.reports_v1.json")
        with open(discovery) as f:
            self.discovery = json.load(f)
        self.method = self.discovery["resources"]["activities"]["methods"]["list"]
        self.subject, self.token_lifetime = subject, token_lifetime
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
        self.service_account = {
            "type": "service_account", "project_id": "sluice-test", "private_key_id": secrets.token_hex(20), "private_key": pem,
            "client_email": "sluice-reader@sluice-test.iam.gserviceaccount.com", "client_id": "1" + "0" * 20,
            "token_uri": self.base_url + "/token",
        }
        self.applications = {}   # application -> sorted [(epoch, key), ...] via self.records keyed (app, epoch, n)

    @staticmethod
    def error_body(status):
        reason = {401: ("UNAUTHENTICATED", "Request had invalid authentication credentials."), 429: ("RESOURCE_EXHAUSTED", "Quota exceeded"),
                  500: ("INTERNAL", "Internal error encountered.")}[status]
        return json.dumps({"error": {"code": status, "message": reason[1], "status": reason[0]}})

    def served_items(self):
        with self.lock:
            return [text for _, _, text in self.records]

    def add_activities(self, application, count, start, spacing):
        for i in range(count):
            epoch = start + i * spacing
            activity = {
                "kind": "admin#reports#activity",
                "id": {"time": iso(epoch), "uniqueQualifier": str(-(10 ** 17) + i * 7919), "applicationName": application, "customerId": "C03az79cb"},
                "etag": '"' + secrets.token_urlsafe(20) + '"',
                "actor": {"email": f"user{i % 20}@example.com", "profileId": f"1{i % 20:020d}", "callerType": "USER"},
                "ipAddress": f"2001:db8::{i % 200:x}",
                "events": [{"type": {"login": "login", "admin": "USER_SETTINGS", "drive": "access", "token": "auth"}.get(application, "event"),
                            "name": {"login": "login_success", "admin": "CHANGE_PASSWORD", "drive": "view", "token": "authorize"}.get(application, "event"),
                            "parameters": [{"name": "login_type", "value": "google_password"}, {"name": "is_suspicious", "boolValue": False}]}],
            }
            self.check_schema(activity, {"$ref": "Activity"}, "Activity")
            self.add((application, epoch, i), epoch, activity)

    def check_schema(self, value, schema, where):
        """`value` fits the discovery document's schema: known members only, of the right types."""
        if "$ref" in schema:
            schema = self.discovery["schemas"][schema["$ref"]]
        kind = schema.get("type")
        if kind == "object":
            if not isinstance(value, dict):
                raise AssertionError(f"{where} is not an object")
            for name, member in value.items():
                if name in schema.get("properties", {}):
                    self.check_schema(member, schema["properties"][name], f"{where}.{name}")
                elif "additionalProperties" in schema:
                    self.check_schema(member, schema["additionalProperties"], f"{where}.{name}")
                else:
                    raise AssertionError(f"{where}.{name} is not in the discovery document")
        elif kind == "array":
            if not isinstance(value, list):
                raise AssertionError(f"{where} is not a list")
            for i, item in enumerate(value):
                self.check_schema(item, schema["items"], f"{where}[{i}]")
        elif kind == "string" and not isinstance(value, str):
            raise AssertionError(f"{where} is not a string (int64 values are strings)")
        elif kind == "boolean" and not isinstance(value, bool):
            raise AssertionError(f"{where} is not a boolean")
        elif kind == "integer" and not isinstance(value, int):
            raise AssertionError(f"{where} is not an integer")

    def route(self, method, path, query, headers, body):
        if path == "/token" and method == "POST":
            return self.token(headers, body)
        prefix = "/" + self.method["path"].split("{userKey}")[0]
        if method != "GET" or not path.startswith(prefix):
            raise Violation("the API has no such endpoint")
        user_key, _, application = path[len(prefix):].partition("/applications/")
        import re
        if not re.fullmatch(self.method["parameters"]["applicationName"]["pattern"], application):
            raise Violation(f"applicationName {application!r} does not match the discovery pattern")
        if user_key != "all":
            raise Violation(f"userKey {user_key!r}: this double serves all users")
        allowed = {name for name, p in self.method["parameters"].items() if p["location"] == "query"} | set(self.discovery["parameters"])
        self.only(query, allowed)
        for name, values in query.items():
            pattern = self.method["parameters"].get(name, {}).get("pattern")
            if pattern and not re.fullmatch(pattern, values[0]):
                raise Violation(f"{name}={values[0]!r} does not match the discovery pattern {pattern}")
        auth = headers.get("Authorization", "")
        with self.lock:
            expiry = self.access_tokens.get(auth[len("Bearer "):]) if auth.startswith("Bearer ") else None
        if expiry is None or expiry < time.time():
            return self.refuse_credential()
        fault = self.fault()
        if fault:
            return fault
        start = self.one(query, "startTime")
        end = self.one(query, "endTime")
        low = parse_iso(start) if start else 0
        high = parse_iso(end) if end else time.time() + 86400
        limit = self.integer(self.one(query, "maxResults") or "1000", "maxResults", 1, 1000)
        fingerprint = (application, start, end, limit)
        token = self.one(query, "pageToken")
        offset = self.redeem(token, fingerprint) if token else 0
        with self.lock:
            # Newest first, as the Reports API lists them.
            matching = [text for (app, _, _), epoch, text in reversed(self.records) if app == application and low <= epoch <= high]
        items, next_token = self.page(matching, offset, limit, fingerprint)
        payload = '{"kind":"admin#reports#activities","etag":"\\"e\\"","items":[' + ",".join(items) + "]"
        if next_token:
            payload += ',"nextPageToken":' + json.dumps(next_token)
        payload += "}"
        self.check_schema(json.loads(payload), {"$ref": "Activities"}, "Activities")
        return 200, payload, {}

    def token(self, headers, body):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        with self.lock:
            self.stats["token_requests"] += 1
        form = urllib.parse.parse_qs(body.decode())
        if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"] or len(form.get("assertion", [])) != 1:
            raise Violation("not a JWT bearer grant")
        head, claims, signature = form["assertion"][0].split(".")

        def decoded(part):
            return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        try:
            self.key.public_key().verify(decoded(signature), f"{head}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except Exception:
            return 400, json.dumps({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}), {}
        header, claims = json.loads(decoded(head)), json.loads(decoded(claims))
        if header.get("alg") != "RS256":
            raise Violation(f"alg {header.get('alg')!r}")
        problems = [name for name, ok in [
            ("iss", claims.get("iss") == self.service_account["client_email"]), ("aud", claims.get("aud") == "https://oauth2.googleapis.com/token"),
            ("scope", self.SCOPE in str(claims.get("scope", "")).split()), ("sub", claims.get("sub") == self.subject),
            ("exp", 0 < claims.get("exp", 0) - claims.get("iat", 0) <= 3600 and abs(claims.get("iat", 0) - time.time()) < 300),
        ] if not ok]
        if problems:
            return 400, json.dumps({"error": "unauthorized_client", "error_description": f"bad claims: {problems}"}), {}
        token = "ya29." + secrets.token_urlsafe(32)
        with self.lock:
            self.access_tokens[token] = time.time() + self.token_lifetime
        return 200, json.dumps({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}), {}


def vouch_google(double, checks, applications, start, end):
    """google-api-python-client, built from its admin reports_v1 discovery document, reads every
    activity back with a service account acting for the administrator."""
    from google.oauth2 import service_account
    from googleapiclient.discovery import build
    credentials = service_account.Credentials.from_service_account_info(double.service_account, scopes=[double.SCOPE], subject=double.subject)
    service = build("admin", "reports_v1", credentials=credentials, static_discovery=True, cache_discovery=False,
                    client_options={"api_endpoint": double.base_url + "/"}, num_retries=0)
    read = []
    for application in applications:
        request = service.activities().list(userKey="all", applicationName=application, startTime=start, endTime=end, maxResults=1000)
        while request is not None:
            answer = request.execute(num_retries=5)
            read.extend(json.dumps(item, separators=(",", ":")) for item in answer.get("items", []))
            request = service.activities().list_next(request, answer)
    checks("google: google-api-python-client reads every activity back with the service account",
           sorted(read) == sorted(double.served_items()) and len(read) == len(double.served_items()), (len(read), len(double.served_items())))
