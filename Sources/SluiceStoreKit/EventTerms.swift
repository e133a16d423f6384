import SluiceCore

/// The terms of the filter index: one per filterable value of an event (the SQLite store keeps
/// their postings in blocks, see ``PostingBlock``; PostgreSQL in an array column). A term is a
/// field name and a value joined by U+001F, so `actor` covers both the actor's id and name, and
/// `target` both a target's id and name, each in one index walk.
package enum EventTerms {
    package static let separator: Character = "\u{1F}"

    package enum Field: String {
        case feed, logType = "log_type", actor, actorType = "actor_type", action, target, targetType = "target_type"
    }

    package static func term(_ field: Field, _ value: String) -> String {
        field.rawValue + String(separator) + value
    }

    /// Every term of one event, without repeats. Repeats are judged by UTF-8 bytes, as the
    /// stores compare terms, not by `String` equality, which would drop one of two canonically
    /// equivalent but differently spelled values. A value holding NUL gives no term: neither
    /// store can bind it as text, and no text filter can match it.
    package static func terms(
        source: String, logType: String, action: String, actorType: String?, actorID: String?, actorName: String?,
        targets: [AuditTarget]
    ) -> [String] {
        var out: [String] = []
        out.reserveCapacity(5 + targets.count * 3)
        func add(_ field: Field, _ value: String) {
            if value.utf8.contains(0) { return }
            let term = term(field, value)
            let length = term.utf8.count
            if !out.contains(where: { $0.utf8.count == length && $0.utf8.elementsEqual(term.utf8) }) { out.append(term) }
        }
        add(.feed, source)
        add(.logType, logType)
        add(.action, action)
        if let actorType { add(.actorType, actorType) }
        if let actorID, !actorID.isEmpty { add(.actor, actorID) }
        if let actorName, !actorName.isEmpty { add(.actor, actorName) }
        for target in targets {
            if !target.id.isEmpty { add(.target, target.id) }
            if let name = target.name, !name.isEmpty { add(.target, name) }
            add(.targetType, target.type)
        }
        return out
    }
}
