import SluiceCore

/// The filter index of the SQLite store: one `(term, occurred_at, seq)` row per filterable value
/// of an event. A term is a field name and a value joined by U+001F, so `actor` covers both the
/// actor's id and name, and `target` both a target's id and name, each in one index walk.
enum EventTerms {
    static let separator: Character = "\u{1F}"

    enum Field: String {
        case feed, logType = "log_type", actor, actorType = "actor_type", action, target, targetType = "target_type"
    }

    static func term(_ field: Field, _ value: String) -> String {
        field.rawValue + String(separator) + value
    }

    /// Every term of one event, without repeats.
    static func terms(
        source: String, logType: String, action: String, actorType: String?, actorID: String?, actorName: String?,
        targets: [AuditTarget]
    ) -> Set<String> {
        var out: Set<String> = [term(.feed, source), term(.logType, logType), term(.action, action)]
        if let actorType { out.insert(term(.actorType, actorType)) }
        if let actorID, !actorID.isEmpty { out.insert(term(.actor, actorID)) }
        if let actorName, !actorName.isEmpty { out.insert(term(.actor, actorName)) }
        for target in targets {
            if !target.id.isEmpty { out.insert(term(.target, target.id)) }
            if let name = target.name, !name.isEmpty { out.insert(term(.target, name)) }
            out.insert(term(.targetType, target.type))
        }
        return out
    }
}
