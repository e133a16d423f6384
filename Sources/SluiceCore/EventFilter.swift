/// The filters shared by the query API, exports and the CLI. Every field is optional; set fields
/// combine with AND.
public struct EventFilter: Sendable, Hashable {
    /// Feed or collector name.
    public var source: String?
    public var logType: String?
    /// Matches the actor's id or name exactly.
    public var actor: String?
    public var actorType: String?
    public var action: ActionMatch?
    /// Matches any target's id or name exactly.
    public var target: String?
    public var targetType: String?
    /// Inclusive lower bound on `occurred_at`.
    public var since: Timestamp?
    /// Exclusive upper bound on `occurred_at`.
    public var until: Timestamp?
    /// Free text, matched case-insensitively as a substring of action, actor, targets, context and raw JSON.
    public var text: String?

    public init(
        source: String? = nil, logType: String? = nil, actor: String? = nil, actorType: String? = nil,
        action: ActionMatch? = nil, target: String? = nil, targetType: String? = nil,
        since: Timestamp? = nil, until: Timestamp? = nil, text: String? = nil
    ) {
        self.source = source
        self.logType = logType
        self.actor = actor
        self.actorType = actorType
        self.action = action
        self.target = target
        self.targetType = targetType
        self.since = since
        self.until = until
        self.text = text
    }
}

/// An action filter: exact (`api_key.created`) or by prefix (`api_key.*`).
public enum ActionMatch: Sendable, Hashable {
    case exact(String)
    case prefix(String)

    /// Parses the query syntax: a trailing `*` (normally after a dot) makes it a prefix match.
    public init(_ text: String) {
        if text.hasSuffix("*") {
            self = .prefix(String(text.dropLast()))
        } else {
            self = .exact(text)
        }
    }
}

/// A position in the newest-first listing: the last row of the previous page.
public struct EventCursor: Sendable, Hashable {
    public var occurredAt: Timestamp
    public var seq: Int64

    public init(occurredAt: Timestamp, seq: Int64) {
        self.occurredAt = occurredAt
        self.seq = seq
    }

    /// Opaque text for API clients: `<occurred µs>.<seq>` in base 36, hard to mistake for a time.
    public var token: String {
        "c" + String(occurredAt.microseconds, radix: 36) + "." + String(seq, radix: 36)
    }

    public init?(token: String) {
        guard token.hasPrefix("c") else { return nil }
        let parts = token.dropFirst().split(separator: ".")
        guard parts.count == 2, let us = Int64(parts[0], radix: 36), let seq = Int64(parts[1], radix: 36) else { return nil }
        self.init(occurredAt: Timestamp(microseconds: us), seq: seq)
    }
}

/// One page of a newest-first listing.
public struct EventPage: Sendable {
    public var events: [StoredEvent]
    /// Present when more events may match.
    public var nextCursor: EventCursor?
    /// True when a free-text search stopped after reading its bound of events before filling the
    /// page: fewer events than asked for matched so far, and `nextCursor` continues the search.
    public var partial: Bool

    public init(events: [StoredEvent], nextCursor: EventCursor?, partial: Bool = false) {
        self.events = events
        self.nextCursor = nextCursor
        self.partial = partial
    }

    /// A page from the rows a store read: up to `limit + 1` events (one more than the page, to
    /// tell whether more match), and where a bounded free-text scan stopped, if it did.
    public init(reading events: [StoredEvent], limit: Int, scanStoppedAt: EventCursor?) {
        if events.count > limit {
            let page = Array(events.prefix(limit))
            let last = page[page.count - 1]
            self.init(events: page, nextCursor: EventCursor(occurredAt: last.normalized.occurredAt, seq: last.seq))
        } else if let scanStoppedAt {
            self.init(events: events, nextCursor: scanStoppedAt, partial: true)
        } else {
            self.init(events: events, nextCursor: nil)
        }
    }
}
