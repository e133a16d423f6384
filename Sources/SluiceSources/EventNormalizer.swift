import Crypto
import SluiceCore

/// Where a normalizer looks for each audit field. Each field lists candidate paths, tried in
/// order; the first that is present and non-null wins.
public struct FieldMap: Sendable, Hashable {
    public var occurredAt: [FieldPath]
    public var action: [FieldPath]
    public var actorID: [FieldPath]
    public var actorName: [FieldPath]
    public var actorType: [FieldPath]
    public var actorMetadata: [FieldPath]
    /// An array of `{type, id, name}` objects (or a single such object).
    public var targets: [FieldPath]
    public var location: [FieldPath]
    public var userAgent: [FieldPath]
    public var version: [FieldPath]
    /// The sender's own event id; when present it is the dedupe key instead of the content hash.
    public var eventID: [FieldPath]
    /// One target's id, name and type at their own paths, for senders whose target is not a
    /// `{type, id, name}` object (Slack's `entity.user.id`); used when `targets` finds none.
    public var targetID: [FieldPath] = []
    public var targetName: [FieldPath] = []
    public var targetType: [FieldPath] = []

    public init(
        occurredAt: [FieldPath], action: [FieldPath], actorID: [FieldPath], actorName: [FieldPath],
        actorType: [FieldPath], actorMetadata: [FieldPath], targets: [FieldPath], location: [FieldPath],
        userAgent: [FieldPath], version: [FieldPath], eventID: [FieldPath]
    ) {
        self.occurredAt = occurredAt
        self.action = action
        self.actorID = actorID
        self.actorName = actorName
        self.actorType = actorType
        self.actorMetadata = actorMetadata
        self.targets = targets
        self.location = location
        self.userAgent = userAgent
        self.version = version
        self.eventID = eventID
    }

    private static func paths(_ list: String...) -> [FieldPath] { list.map(FieldPath.init) }

    /// incident.io audit-log entries (protocols.md B.1), tolerating the camelCase spellings of
    /// WorkOS-style deliveries.
    public static let incidentIO = FieldMap(
        occurredAt: paths("occurred_at", "occurredAt"),
        action: paths("action"),
        actorID: paths("actor.id"),
        actorName: paths("actor.name"),
        actorType: paths("actor.type"),
        actorMetadata: paths("actor.metadata"),
        targets: paths("targets"),
        location: paths("context.location", "location"),
        userAgent: paths("context.user_agent", "context.userAgent", "user_agent", "userAgent"),
        version: paths("version"),
        eventID: []
    )

    /// Common spellings across JSON audit senders; every field can be overridden per feed.
    public static let generic = FieldMap(
        occurredAt: paths("occurred_at", "occurredAt", "timestamp", "@timestamp", "time", "eventTime", "event_time", "created_at", "createdAt"),
        action: paths("action", "event_type", "eventType", "event.action", "type"),
        actorID: paths("actor.id", "actor_id", "actorId", "user.id", "user.email"),
        actorName: paths("actor.name", "actor_name", "actorName", "user.name", "user.email"),
        actorType: paths("actor.type", "actor_type", "actorType"),
        actorMetadata: paths("actor.metadata"),
        targets: paths("targets"),
        location: paths("context.location", "location", "ip", "source_ip", "sourceIp", "actorIpAddress"),
        userAgent: paths("context.user_agent", "context.userAgent", "user_agent", "userAgent", "actorAgent"),
        version: paths("version"),
        eventID: []
    )
}

/// Turns a sender's JSON event into the normalized audit view. Unknown fields, actor types and
/// target types are kept as sent; nothing is rejected for its content.
public struct EventNormalizer: Sendable, Hashable {
    public enum Schema: String, Sendable, Hashable {
        case incidentIO = "incident_io"
        case generic
    }

    public var schema: Schema
    public var fields: FieldMap
    /// Member names whose object value is unwrapped before normalizing (`{"event": {...}}`).
    public var wrappers: [String]

    public init(schema: Schema, fields: FieldMap? = nil, wrappers: [String] = ["event", "data"]) {
        self.schema = schema
        self.fields = fields ?? (schema == .incidentIO ? .incidentIO : .generic)
        self.wrappers = wrappers
    }

    /// The event inside a single-member wrapper object, or the event itself.
    public func unwrapped<Value: JSONReadable>(_ value: Value) -> Value {
        guard !wrappers.isEmpty, let (key, inner) = value.onlyMember, wrappers.contains(key), inner.isObject else { return value }
        return inner
    }

    public func normalize<Value: JSONReadable>(_ value: Value, receivedAt: Timestamp) -> NormalizedEvent {
        normalizeKeepingOwnTime(value, receivedAt: receivedAt).event
    }

    /// Normalizes `value` (built, or a view that decodes only the fields read), and returns the
    /// event's own time apart: nil when the event carries none and `receivedAt` stands in for it
    /// (such an event is keyed without a time).
    public func normalizeKeepingOwnTime<Value: JSONReadable>(_ value: Value, receivedAt: Timestamp) -> (event: NormalizedEvent, ownTime: Timestamp?) {
        let event = unwrapped(value)
        func first(_ paths: [FieldPath]) -> Value? {
            for path in paths {
                if let v = event.value(at: path), !v.isNull { return v }
            }
            return nil
        }
        let ownTime = first(fields.occurredAt).flatMap(\.timestamp)
        let occurredAt = ownTime ?? receivedAt
        let action = first(fields.action)?.textValue ?? ""
        let actorID = first(fields.actorID)?.textValue
        let actorName = first(fields.actorName)?.textValue
        let actorType = first(fields.actorType)?.textValue
        var actor: AuditActor?
        if actorID != nil || actorName != nil || actorType != nil {
            var metadata: [String: String] = [:]
            for member in first(fields.actorMetadata)?.members ?? [] {
                if let text = member.value.textValue { metadata[member.key] = text }
            }
            actor = AuditActor(type: actorType ?? "unknown", id: actorID ?? "", name: actorName, metadata: metadata)
        }
        var targets: [AuditTarget] = []
        if let t = first(fields.targets) {
            let items = t.elements ?? (t.isObject ? [t] : [])
            for item in items {
                guard item.isObject else { continue }
                targets.append(AuditTarget(
                    type: item["type"]?.textValue ?? "unknown",
                    id: item["id"]?.textValue ?? "",
                    name: item["name"]?.textValue
                ))
            }
        }
        if targets.isEmpty {
            let id = first(fields.targetID)?.textValue, name = first(fields.targetName)?.textValue, type = first(fields.targetType)?.textValue
            if id != nil || name != nil || type != nil {
                targets.append(AuditTarget(type: type ?? "unknown", id: id ?? "", name: name))
            }
        }
        let context = AuditContext(location: first(fields.location)?.textValue, userAgent: first(fields.userAgent)?.textValue)
        let version = first(fields.version)?.textValue.flatMap { Int($0) }
        let normalized = NormalizedEvent(
            occurredAt: occurredAt, action: action, actor: actor, targets: targets,
            context: context, schemaVersion: version
        )
        return (normalized, ownTime)
    }

    /// The key that makes a redelivery a duplicate: the sender's event id when the field map
    /// names one, the signed webhook's id (with the event's position), else SHA-256 of the
    /// canonical JSON.
    public func dedupeKey(for value: JSONValue, webhookID: String?, index: Int, sizeHint: Int = 256) -> [UInt8] {
        let event = unwrapped(value)
        for path in fields.eventID {
            if let id = event.value(at: path)?.textValue, !id.isEmpty {
                return Array(SHA256.hash(data: Array(("id:" + id).utf8)))
            }
        }
        if let webhookID {
            return Array(SHA256.hash(data: Array("webhook:\(webhookID):\(index)".utf8)))
        }
        // The event's own size is near its canonical size: one allocation, no regrowth.
        return Array(SHA256.hash(data: value.canonicalBytes(capacity: sizeHint)))
    }
}
