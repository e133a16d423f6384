"""A Code42 Incydr API on a loopback port that the official SDK vouches for.

Every request is checked against the request models of the `incydr` package (PyPI, the SDK
Code42 publishes) and the shape its client sends: what the SDK would not send is answered 400
with a problem naming it and recorded in `violations`. Every answer is an instance of the SDK's
response models, serialized by the SDK's own models (`FileEventV2` in a `FileEventsPage`,
`AuditEventsPage`, `User` in a `UsersPage`, `Case` in a `CasesPage`, `AuthResponse`), so the
SDK's client reads it back (`vouch()` runs that client over every endpoint).

The ugly parts, on request: tokens that the server drops before their advertised expiry, 429s
with `Retry-After`, the audit search's 10,000-result cap (pages never say how many results there
are; past 10,000 they carry no `events`), page-size limits, and a delay per file-events page so
that a run can be killed in the middle.

What the SDK sends, and so what is required (incydr 2.12.6):
  POST /v1/oauth                       HTTP Basic, no body, no query
  POST /v2/file-events                 EventQuery.dict(): groupClause, groups, pgNum, pgSize (<= 10,000),
                                       pgToken ("" or a token issued for the same query), srtDir, srtKey;
                                       date filters in milliseconds (parse_ts_to_ms_str)
  POST /v1/audit/search-audit-log      QueryAuditLogRequest.dict(): all nine members, unused ones null
  POST /v1/audit/search-results-count  the same body
  GET  /v1/users?page&pageSize         QueryUsersRequest (None members are not sent)
  GET  /v1/cases?pgNum&pgSize&srtDir&srtKey   QueryCasesRequest (srtDir and srtKey always sent)
"""
import base64
import json
import os
import re
import secrets
import sys
import time
from datetime import datetime, timezone

from pydantic import ValidationError

from _incydr_sdk.audit_log.models import AuditEventsPage, QueryAuditLogRequest
from _incydr_sdk.cases.models import Case, CasesPage, QueryCasesRequest
from _incydr_sdk.core.models import AuthResponse
from _incydr_sdk.file_events.models.event import FileEventV2
from _incydr_sdk.file_events.models.response import FileEventsPage
from _incydr_sdk.queries.file_events import EventQuery
from _incydr_sdk.users.models import QueryUsersRequest, User, UsersPage

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sdk_double import SDKDouble, Violation  # noqa: E402

AUDIT_CAP = 10_000
MAX_PAGE_SIZE = 10_000
# parse_ts_to_ms_str's output: '2020-03-25T15:29:04.465Z'
MILLISECONDS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
DATE_OPERATORS = {"ON_OR_AFTER", "ON_OR_BEFORE", "ON"}
# The members EventQuery.dict() and QueryAuditLogRequest.dict() always hold.
FILE_EVENT_QUERY_MEMBERS = {"groupClause", "groups", "pgNum", "pgSize", "pgToken", "srtDir", "srtKey"}
AUDIT_QUERY_MEMBERS = set(QueryAuditLogRequest.model_fields)


def utc(epoch):
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def parse_ms(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


class IncydrSDKDouble(SDKDouble):
    def __init__(self, client_id, client_secret, token_lifetime=900.0, advertised_expiry=900, throttle_every=0, page_delay=0.0):
        super().__init__()
        self.client_id, self.client_secret = client_id, client_secret
        self.token_lifetime, self.advertised_expiry = token_lifetime, advertised_expiry
        self.throttle_every, self.page_delay = throttle_every, page_delay
        self.file_events = []   # (inserted epoch, FileEventV2, its JSON)
        self.audit = []         # (epoch, entry dict, its JSON)
        self.users = {}         # userId -> User
        self.cases = {}         # number -> Case
        self.tokens = {}        # token -> time it stops being accepted
        self.page_tokens = {}   # pgToken -> (query fingerprint, offset)
        self.reset_stats()

    def reset_stats(self):
        """Zeroes the counters and forgets issued tokens (recorded violations stay)."""
        with self.lock:
            self.stats = {"token_requests": 0, "data_requests": 0, "status_401": 0, "status_429": 0, "by_path": {}}
            self.tokens = {}

    # Data, as SDK model instances

    def add_file_events(self, count, inserted_from, spacing=0.001, prefix="fe"):
        """`count` file events inserted from `inserted_from` (epoch seconds), `spacing` apart."""
        with self.lock:
            base = len(self.file_events)
            for i in range(count):
                n = base + i
                inserted = inserted_from + i * spacing
                event = FileEventV2.model_validate({
                    "@timestamp": utc(inserted - 30),
                    "event": {"id": f"0_{prefix}-{n}_973435567569502913_986467523038446097_{n}", "inserted": utc(inserted),
                              "action": ["file-downloaded", "file-created", "application-read"][n % 3], "observer": "Endpoint", "shareType": []},
                    "user": {"email": f"user{n % 7}@example.com", "id": f"9{n % 7:017d}", "deviceUid": f"10{n % 5:016d}"},
                    "file": {"name": f"quarterly-{n}.pdf", "directory": f"C:/Users/user{n % 7}/Downloads/", "url": None,
                             "sizeInBytes": 1000 + n, "category": "Document", "hash": {"md5": f"{n:032x}", "sha256": f"{n:064x}"}},
                    "destination": {"category": "Cloud Storage", "name": "Dropbox", "domains": ["dropbox.com"]},
                    "source": {"ip": f"203.0.113.{n % 250}", "domain": "laptop.example.com"},
                    "risk": {"score": n % 10, "severity": ["LOW", "MODERATE", "HIGH"][n % 3], "indicators": [{"name": "Remote", "weight": 0}],
                             "untrustedValues": {"accountNames": [], "domains": [], "gitRepositoryUris": [], "slackWorkspaces": [], "urlPaths": []}},
                })
                self.file_events.append((round(inserted, 6), event, event.json()))
            self.file_events.sort(key=lambda e: (e[0], e[1].event.id))

    def add_audit_entries(self, count, start, spacing, actor_types=("USER", "SUPPORT_USER", "API_CLIENT", "SYSTEM")):
        with self.lock:
            base = len(self.audit)
            for i in range(count):
                n = base + i
                at = start + i * spacing
                entry = {"type$": "audit_log::logged_in/1", "actorId": f"actor-{n % 5}", "actorName": f"admin{n % 5}@example.com",
                         "actorAgent": "incydr-sdk", "actorIpAddress": f"198.51.100.{n % 250}",
                         "timestamp": utc(at).isoformat().replace("+00:00", "Z"), "actorType": actor_types[n % len(actor_types)], "n": n}
                # The SDK's page model holds entries as they come (dicts): serialize one the way it does.
                text = AuditEventsPage(events=[entry]).json(exclude_none=True)
                self.audit.append((round(at, 6), entry, text[len('{"events":['):-2]))
            self.audit.sort(key=lambda e: (e[0], e[1]["n"]))

    def set_users(self, count, revision=0):
        with self.lock:
            self.users = {}
            for i in range(count):
                user = User.model_validate({
                    "legacyUserId": str(900000 + i), "userId": f"user-{i:05d}", "username": f"user{i}@example.com",
                    "firstName": f"First{i}", "lastName": f"Last{i}", "orgId": "42", "orgName": "Example",
                    "notes": f"revision {revision}" if i % 10 == 0 else None, "active": i % 13 != 0, "blocked": False,
                    "creationDate": utc(1_700_000_000 + i), "modificationDate": utc(1_700_000_000 + i + revision),
                })
                self.users[user.user_id] = user

    def set_cases(self, count, status=None):
        status = status or {}
        with self.lock:
            self.cases = {}
            for i in range(1, count + 1):
                case = Case.model_validate({
                    "number": i, "name": f"Case {i}", "createdAt": utc(1_700_000_000 + i), "updatedAt": utc(1_700_000_000 + 10 * i),
                    "subject": f"subject-{i}", "subjectUsername": f"subject{i}@example.com", "status": status.get(i, "OPEN"),
                    "assignee": "942564422882759874", "assigneeUsername": "analyst@example.com",
                    "createdByUserUid": "942564422882759874", "createdByUsername": "analyst@example.com",
                    "lastModifiedByUserUid": "942564422882759874", "lastModifiedByUsername": "analyst@example.com",
                })
                self.cases[i] = case

    def served_items(self):
        """The JSON text of every item the double holds, as served."""
        with self.lock:
            return ([e[2] for e in self.file_events] + [e[2] for e in self.audit]
                    + [u.json() for u in self.users.values()] + [c.json() for c in self.cases.values()])

    # Serving

    def violation_body(self, message):
        return json.dumps({"problems": [{"type": "REQUEST_NOT_AS_THE_SDK_SENDS", "description": message}]})

    def route(self, method, path, query, headers, body):
        with self.lock:
            self.stats["by_path"][path] = self.stats["by_path"].get(path, 0) + 1
        if path == "/v1/oauth" and method == "POST":
            return self.token(query, headers, body)
        routes = {
            ("POST", "/v2/file-events"): self.search_file_events,
            ("POST", "/v1/audit/search-audit-log"): self.search_audit,
            ("POST", "/v1/audit/search-results-count"): self.count_audit,
            ("GET", "/v1/users"): self.list_users,
            ("GET", "/v1/cases"): self.list_cases,
        }
        answer = routes.get((method, path))
        if answer is None:
            raise Violation("the SDK has no such endpoint")
        auth = headers.get("Authorization", "")
        with self.lock:
            self.stats["data_requests"] += 1
            expiry = self.tokens.get(auth[len("Bearer "):]) if auth.startswith("Bearer ") else None
            if expiry is None or expiry < time.time():
                self.stats["status_401"] += 1
                return 401, json.dumps({"error": "invalid_token", "error_description": "the access token is unknown or expired"}), {}
            if self.throttle_every and self.stats["data_requests"] % self.throttle_every == 0:
                self.stats["status_429"] += 1
                return 429, json.dumps({"error": "too many requests"}), {"Retry-After": "1"}
        if method == "POST" and headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            raise Violation(f"Content-Type {headers.get('Content-Type')!r}; the SDK posts JSON")
        if method == "GET" and body:
            raise Violation("a GET with a body")
        return answer(query, body)

    def token(self, query, headers, body):
        with self.lock:
            self.stats["token_requests"] += 1
        if body or query:
            raise Violation("the SDK's token request has no body and no query (HTTP Basic only)")
        expected = "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if headers.get("Authorization") != expected:
            with self.lock:
                self.stats["status_401"] += 1
            return 401, json.dumps({"error": "invalid_client"}), {}
        token = "eyJhbGciOiJSUzI1NiJ9." + secrets.token_urlsafe(24) + ".sig"
        with self.lock:
            self.tokens[token] = time.time() + self.token_lifetime
        text = json.dumps({"token_type": "bearer", "expires_in": self.advertised_expiry, "access_token": token})
        return 200, self.readable(AuthResponse, text), {}

    @staticmethod
    def readable(model, text):
        """`text`, after checking that the SDK's client reads it as `model` (as its
        `parse_response` does): an answer the SDK could not read is the double's own bug."""
        model.model_validate_json(text)
        return text

    @staticmethod
    def json_body(body, members, model_name):
        try:
            value = json.loads(body)
        except ValueError as error:
            raise Violation(f"the body is not JSON: {error}")
        if not isinstance(value, dict):
            raise Violation("the body is not a JSON object")
        if set(value) != members:
            raise Violation(f"members {sorted(value)} are not {model_name}'s {sorted(members)}")
        return value

    @staticmethod
    def page_size(value, name):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_PAGE_SIZE:
            raise Violation(f"{name} {value!r} is not a whole number from 1 to {MAX_PAGE_SIZE}")
        return value

    def search_file_events(self, query, body):
        value = self.json_body(body, FILE_EVENT_QUERY_MEMBERS, "EventQuery")
        try:
            EventQuery.model_validate(value)
        except ValidationError as error:
            raise Violation(f"EventQuery refuses it: {error}")
        size = self.page_size(value["pgSize"], "pgSize")
        if value["pgNum"] != 1:
            raise Violation("pgNum is not 1 while paging with pgToken")
        start, end = float("-inf"), float("inf")
        for group in value["groups"] or []:
            for f in group.get("filters") or []:
                if f.get("operator") in DATE_OPERATORS:
                    if not isinstance(f.get("value"), str) or not MILLISECONDS.match(f["value"]):
                        raise Violation(f"date value {f.get('value')!r} of {f.get('term')} is not in milliseconds as parse_ts_to_ms_str writes it")
                    if f.get("term") == "event.inserted":
                        if f["operator"] == "ON_OR_AFTER":
                            start = parse_ms(f["value"])
                        elif f["operator"] == "ON_OR_BEFORE":
                            end = parse_ms(f["value"]) + 0.000999
        key = dict(value, pgToken=None)
        fingerprint = json.dumps(key, sort_keys=True)
        offset = 0
        if value["pgToken"]:
            with self.lock:
                issued = self.page_tokens.get(value["pgToken"])
            if issued is None or issued[0] != fingerprint:
                raise Violation("pgToken was not issued for this query")
            offset = issued[1]
        if value["srtKey"] not in ("event.inserted", "event.id") or value["srtDir"] != "asc":
            raise Violation(f"sorting by {value['srtKey']} {value['srtDir']} is outside what this double serves")
        if self.page_delay:
            time.sleep(self.page_delay)
        with self.lock:
            window = [e for e in self.file_events if start <= e[0] <= end]
            if value["srtKey"] == "event.id":
                window.sort(key=lambda e: e[1].event.id)
            page = window[offset:offset + size]
            next_token = None
            if offset + size < len(window):
                next_token = f"0_{secrets.token_hex(8)}_{offset + size}"
                self.page_tokens[next_token] = (fingerprint, offset + size)
        answer = FileEventsPage(file_events=[e[1] for e in page], next_pg_token=next_token, total_count=len(window), problems=None)
        return 200, self.readable(FileEventsPage, answer.json()), {}

    def audit_window(self, body):
        value = self.json_body(body, AUDIT_QUERY_MEMBERS, "QueryAuditLogRequest")
        try:
            request = QueryAuditLogRequest.model_validate(value)
        except ValidationError as error:
            raise Violation(f"QueryAuditLogRequest refuses it: {error}")
        self.page_size(value["pageSize"], "pageSize")
        if request.page < 0:
            raise Violation("page numbers start at 0")
        dates = request.dateRange
        if dates is None or dates.startTime is None or dates.endTime is None:
            raise Violation("no dateRange with startTime and endTime")
        with self.lock:
            return request, [e for e in self.audit if dates.startTime <= e[0] <= dates.endTime]

    def search_audit(self, query, body):
        request, window = self.audit_window(body)
        first = request.page * request.pageSize
        if first >= AUDIT_CAP:
            # Past the cap: no events at all (not even an empty list).
            past = AuditEventsPage(pagination_range_start_index=AUDIT_CAP, pagination_range_end_index=AUDIT_CAP).json(exclude_none=True)
            return 200, self.readable(AuditEventsPage, past), {}
        page = window[first:min(first + request.pageSize, AUDIT_CAP)]
        # Built from the SDK's own serialization of each entry, so each is served byte for byte as recorded.
        text = '{"events":[' + ",".join(e[2] for e in page) + f'],"paginationRangeEndIndex":{first + len(page)},"paginationRangeStartIndex":{first}}}'
        return 200, self.readable(AuditEventsPage, text), {}

    def count_audit(self, query, body):
        _, window = self.audit_window(body)
        return 200, json.dumps({"totalResultCount": len(window)}), {}

    @staticmethod
    def query_model(query, model, name, required=()):
        flat = {}
        for key, values in query.items():
            if len(values) != 1:
                raise Violation(f"{key} is given {len(values)} times")
            flat[key] = values[0]
        unknown = set(flat) - set(model.model_fields)
        if unknown:
            raise Violation(f"{sorted(unknown)} are not members of {name}")
        missing = set(required) - set(flat)
        if missing:
            raise Violation(f"{sorted(missing)} missing; {name} always sends them")
        try:
            return model.model_validate({key: flat.get(key) for key in model.model_fields})
        except ValidationError as error:
            raise Violation(f"{name} refuses it: {error}")

    @staticmethod
    def listing_page(number, size):
        if number is None or number < 1:
            raise Violation(f"page number {number!r}: pages start at 1")
        if size is None or not 1 <= size <= MAX_PAGE_SIZE:
            raise Violation(f"page size {size!r} is not from 1 to {MAX_PAGE_SIZE}")
        return (number - 1) * size, size

    def list_users(self, query, body):
        request = self.query_model(query, QueryUsersRequest, "QueryUsersRequest", required=("page", "pageSize"))
        first, size = self.listing_page(request.page, request.pageSize)
        with self.lock:
            users = sorted(self.users.values(), key=lambda u: u.user_id)
        return 200, self.readable(UsersPage, UsersPage(users=users[first:first + size], total_count=len(users)).json()), {}

    def list_cases(self, query, body):
        request = self.query_model(query, QueryCasesRequest, "QueryCasesRequest", required=("pgNum", "pgSize", "srtDir", "srtKey"))
        if (request.srtDir, request.srtKey) != ("asc", "number"):
            raise Violation(f"cases sorted by {request.srtKey} {request.srtDir}: this double serves the SDK's default, number asc")
        first, size = self.listing_page(request.pgNum, request.pgSize)
        with self.lock:
            cases = [self.cases[n] for n in sorted(self.cases)]
        return 200, self.readable(CasesPage, CasesPage(cases=cases[first:first + size], total_count=len(cases)).json()), {}


def vouch(double, checks):
    """The SDK's own client, pointed at the double, reads every endpoint back: the double is one
    the SDK accepts, and it serves what it holds."""
    import incydr
    from _incydr_sdk.queries.file_events import EventQuery as Query

    client = incydr.Client(url=double.base_url, api_client_id=double.client_id, api_client_secret=double.client_secret, page_size=250)
    with double.lock:
        first, last = double.file_events[0][0], double.file_events[-1][0]
        want_events = [e[1].event.id for e in double.file_events]
        audit_span = (double.audit[0][0], double.audit[-1][0]) if double.audit else None
    query = Query(page_size=1000).date_range("event.inserted", utc(first - 1), utc(last + 1))
    seen = []
    while True:
        page = client.file_events.v2.search(query)
        seen += [e.event.id for e in page.file_events]
        if not page.next_pg_token:
            break
    checks("the SDK pages every file event of the double once", sorted(seen) == sorted(want_events), f"{len(seen)} of {len(want_events)}")
    if audit_span:
        start, end = utc(audit_span[0]), utc(audit_span[1])
        count = client.audit_log.v1.get_event_count(start_time=start, end_time=end)
        checks("the SDK reads the audit count", count == len(double.audit), count)
        page = client.audit_log.v1.get_page(page_num=0, page_size=100, start_time=start, end_time=end)
        checks("the SDK reads an audit page", len(page.events) == min(100, len(double.audit)) and page.pagination_range_start_index == 0)
        past = client.audit_log.v1.get_page(page_num=AUDIT_CAP // 100, page_size=100, start_time=start, end_time=end)
        checks("the SDK reads a page past the cap (no events)", past.events is None)
    users = list(client.users.v1.iter_all(page_size=100))
    checks("the SDK lists every user", sorted(u.user_id for u in users) == sorted(double.users), len(users))
    cases = list(client.cases.v1.iter_all(page_size=20))
    checks("the SDK lists every case in number order", [c.number for c in cases] == sorted(double.cases), len(cases))
    with double.lock:
        checks("the SDK's requests are all as the double requires", double.violations == [], double.violations)
