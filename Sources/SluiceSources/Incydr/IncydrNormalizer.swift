import Crypto
import SluiceCore

/// Maps Incydr items into the audit schema (log type `CODE42_INCYDR`). See docs/collectors.md.
enum IncydrNormalizer {
    /// The fields a file event is read through, parsed once: splitting (or even hashing) a dotted
    /// path per field per event was a measurable share of a run.
    private enum Path {
        static let inserted = FieldPath("event.inserted")
        static let userEmail = FieldPath("user.email")
        static let userID = FieldPath("user.id")
        static let deviceUid = FieldPath("user.deviceUid")
        static let fileName = FieldPath("file.name")
        static let fileSHA256 = FieldPath("file.hash.sha256")
        static let fileID = FieldPath("file.id")
        static let fileDirectory = FieldPath("file.directory")
        static let destinationName = FieldPath("destination.name")
        static let destinationDomains = FieldPath("destination.domains")
        static let destinationCategory = FieldPath("destination.category")
        static let action = FieldPath("event.action")
        static let sourceIP = FieldPath("source.ip")
        static let privateIP = FieldPath("source.privateIp")
        static let executable = FieldPath("process.executable")
        static let eventID = FieldPath("event.id")
    }

    /// A file event's id (`event.id`), its dedupe key's source.
    static func fileEventID(_ item: JSONView) -> String? {
        item.value(at: Path.eventID)?.textValue
    }

    /// A file event's own time: `@timestamp`, else `event.inserted`.
    static func fileEventTime(_ item: JSONView) -> Timestamp? {
        item["@timestamp"]?.timestamp ?? item.value(at: Path.inserted)?.timestamp
    }

    /// `occurredAt` is ``fileEventTime(_:)``, or the time received for an event without one.
    /// Reads the fields it needs from the mapped event; nothing else of it is decoded.
    static func fileEvent(_ item: JSONView, occurredAt: Timestamp) -> NormalizedEvent {
        func text(_ path: FieldPath) -> String? { item.value(at: path)?.textValue }
        func first(_ path: FieldPath) -> String? { item.value(at: path)?.first?.textValue }
        var actor: AuditActor?
        let email = text(Path.userEmail)
        let userID = text(Path.userID)
        if let id = email ?? userID {
            var metadata: [String: String] = [:]
            if let userID { metadata["user_id"] = userID }
            if let device = text(Path.deviceUid) { metadata["device_uid"] = device }
            actor = AuditActor(type: "user", id: id, name: email, metadata: metadata)
        }
        var targets: [AuditTarget] = []
        let fileName = text(Path.fileName)
        let fileID = text(Path.fileSHA256) ?? text(Path.fileID) ?? [text(Path.fileDirectory), fileName].compactMap { $0 }.joined()
        if fileName != nil || !fileID.isEmpty {
            targets.append(AuditTarget(type: "file", id: fileID, name: fileName))
        }
        let destinationName = text(Path.destinationName)
        let destinationDomain = first(Path.destinationDomains)
        let destinationCategory = text(Path.destinationCategory)
        if destinationName != nil || destinationDomain != nil || destinationCategory != nil {
            targets.append(AuditTarget(
                type: "destination", id: destinationDomain ?? destinationName ?? destinationCategory ?? "",
                name: destinationName ?? destinationCategory
            ))
        }
        return NormalizedEvent(
            occurredAt: occurredAt, action: text(Path.action) ?? "file-event", actor: actor, targets: targets,
            context: AuditContext(location: text(Path.sourceIP) ?? first(Path.privateIP), userAgent: text(Path.executable))
        )
    }

    /// An audit entry's own time: `timestamp`.
    static func auditEntryTime(_ item: JSONValue) -> Timestamp? {
        item["timestamp"].flatMap(Timestamp.init(json:))
    }

    /// `type$` is `audit_log::<event_type>/<version>`; `occurredAt` is ``auditEntryTime(_:)``,
    /// or the time received for an entry without one.
    static func auditEntry(_ item: JSONValue, occurredAt: Timestamp) -> NormalizedEvent {
        var action = item["type$"]?.textValue ?? item["type"]?.textValue ?? "audit"
        var version: Int?
        if action.hasPrefix("audit_log::") { action.removeFirst("audit_log::".count) }
        if let slash = action.lastIndex(of: "/"), let v = Int(action[action.index(after: slash)...]) {
            version = v
            action = String(action[..<slash])
        }
        var actor: AuditActor?
        let actorID = item["actorId"]?.textValue
        let actorName = item["actorName"]?.textValue
        if actorID != nil || actorName != nil {
            actor = AuditActor(type: actorType(item["actorType"]?.textValue), id: actorID ?? actorName ?? "", name: actorName)
        }
        var targets: [AuditTarget] = []
        for (key, type) in [("userId", "user"), ("caseNumber", "case"), ("caseId", "case"), ("resourceId", "resource"), ("watchlistId", "watchlist")] {
            if let id = item[key]?.textValue { targets.append(AuditTarget(type: type, id: id)) }
        }
        return NormalizedEvent(
            occurredAt: occurredAt,
            action: action, actor: actor, targets: targets,
            context: AuditContext(location: item["actorIpAddress"]?.textValue, userAgent: item["actorAgent"]?.textValue),
            schemaVersion: version
        )
    }

    /// Incydr's user types onto the schema's actor types; the others (`SUPPORT_USER`: the
    /// vendor's support staff acting in the tenant, `UNKNOWN`) are kept, lowercased.
    static func actorType(_ incydr: String?) -> String {
        switch incydr {
        case "USER": "user"
        case "API_CLIENT": "api_key"
        case "SYSTEM": "system"
        case nil: "unknown"
        case let other?: other.lowercased()
        }
    }

    static func userSnapshot(_ item: JSONValue, change: SnapshotChange, receivedAt: Timestamp) -> NormalizedEvent {
        let id = item["userId"]?.textValue ?? ""
        let name = item["username"]?.textValue ?? item["userPrincipalName"]?.textValue
        let occurredAt = (change == .new ? nil : item["modificationDate"].flatMap(Timestamp.init(json:)))
            ?? item["creationDate"].flatMap(Timestamp.init(json:)) ?? receivedAt
        return NormalizedEvent(
            occurredAt: occurredAt, action: "user.\(change.verb)",
            targets: [AuditTarget(type: "user", id: id, name: name)]
        )
    }

    static func caseSnapshot(_ item: JSONValue, change: SnapshotChange, receivedAt: Timestamp) -> NormalizedEvent {
        let number = item["number"]?.textValue ?? ""
        var actor: AuditActor?
        if let modifier = item["lastModifiedByUsername"]?.textValue ?? item["lastModifiedByUserUid"]?.textValue ?? item["lastModifiedByUserId"]?.textValue {
            actor = AuditActor(type: "user", id: item["lastModifiedByUserUid"]?.textValue ?? item["lastModifiedByUserId"]?.textValue ?? modifier,
                               name: item["lastModifiedByUsername"]?.textValue)
        }
        var targets = [AuditTarget(type: "case", id: number, name: item["name"]?.textValue)]
        if let subject = item["subject"]?.textValue {
            targets.append(AuditTarget(type: "subject", id: subject, name: item["subjectUsername"]?.textValue))
        }
        if let assignee = item["assignee"]?.textValue {
            targets.append(AuditTarget(type: "assignee", id: assignee, name: item["assigneeUsername"]?.textValue))
        }
        return NormalizedEvent(
            occurredAt: item["updatedAt"].flatMap(Timestamp.init(json:)) ?? item["createdAt"].flatMap(Timestamp.init(json:)) ?? receivedAt,
            action: "case.\(change.verb)", actor: actor, targets: targets
        )
    }

    static func key(_ parts: String...) -> [UInt8] {
        Array(SHA256.hash(data: Array(parts.joined(separator: "\u{1F}").utf8)))
    }

    /// SHA-256 of the item's canonical JSON (DESIGN.md's key for items without an id), hashed
    /// straight from the bytes: no hex copy per event.
    static func contentKey(_ item: JSONValue) -> [UInt8] {
        Array(SHA256.hash(data: item.canonicalBytes()))
    }
}

/// What a snapshot stream saw of one entity, compared with the state it recorded before.
enum SnapshotChange: Sendable, Hashable {
    /// Seen for the first time.
    case new
    /// The watched field (a case's status, a user's active flag) changed.
    case statusChanged
    /// A case's assignee changed.
    case assigneeChanged
    /// Anything else changed.
    case updated

    var verb: String {
        switch self {
        case .new: "observed"
        case .statusChanged: "status_changed"
        case .assigneeChanged: "assignee_changed"
        case .updated: "updated"
        }
    }
}
