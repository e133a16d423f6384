#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
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

    /// Every term of one event, without repeats, as UTF-8 bytes. Repeats are judged by bytes, as
    /// the stores compare terms, not by `String` equality, which would drop one of two canonically
    /// equivalent but differently spelled values. A value holding NUL gives no term: neither store
    /// can bind it as text, and no text filter can match it.
    package static func terms(
        source: String, logType: String, action: String, actorType: String?, actorID: String?, actorName: String?,
        targets: [AuditTarget]
    ) -> [TermBytes] {
        var out: [TermBytes] = []
        out.reserveCapacity(5 + targets.count * 3)
        func add(_ field: Field, _ value: String) {
            var value = value
            value.withUTF8 { utf8 in
                if utf8.isEmpty == false, memchr(utf8.baseAddress!, 0, utf8.count) != nil { return }
                let prefix = field.prefix
                var bytes: [UInt8] = []
                bytes.reserveCapacity(prefix.count + utf8.count)
                bytes += prefix
                bytes += utf8
                if !out.contains(where: { $0.bytes == bytes }) { out.append(TermBytes(bytes: bytes)) }
            }
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

extension EventTerms.Field {
    private static let prefixes: [[UInt8]] = [feed, logType, actor, actorType, action, target, targetType].map { Array($0.rawValue.utf8) + [0x1F] }

    /// The field's name and the separator, as a term starts.
    var prefix: [UInt8] {
        switch self {
        case .feed: Self.prefixes[0]
        case .logType: Self.prefixes[1]
        case .actor: Self.prefixes[2]
        case .actorType: Self.prefixes[3]
        case .action: Self.prefixes[4]
        case .target: Self.prefixes[5]
        case .targetType: Self.prefixes[6]
        }
    }
}

/// A term's UTF-8 bytes, hashed as one run rather than byte by byte. Terms are compared as
/// SQLite compares them: `String` equality would merge canonically equivalent spellings (`é`
/// and `e` + U+0301) that SQLite keeps apart.
package struct TermBytes: Hashable, Sendable {
    package let bytes: [UInt8]

    package init(bytes: [UInt8]) { self.bytes = bytes }

    package init(_ term: String) { bytes = Array(term.utf8) }

    package var term: String { String(decoding: bytes, as: UTF8.self) }

    package func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}

extension FacetField {
    /// The index's field of this facet.
    package var termField: EventTerms.Field {
        switch self {
        case .feed: .feed
        case .logType: .logType
        case .action: .action
        case .actor: .actor
        case .actorType: .actorType
        case .target: .target
        case .targetType: .targetType
        }
    }

    /// A small number naming the field in a store's column (its place in `allCases`).
    package var code: Int { Self.allCases.firstIndex(of: self)! }

    /// The field of a term's bytes, by its prefix; nil for bytes that are no term.
    package static func field(of term: TermBytes) -> FacetField? {
        allCases.first { field in
            let prefix = field.termField.prefix
            return term.bytes.count >= prefix.count && term.bytes.starts(with: prefix)
        }
    }

    /// The field and value of a term's bytes; nil for bytes that are no term.
    package static func split(_ term: TermBytes) -> (field: FacetField, value: String)? {
        guard let separator = term.bytes.firstIndex(of: 0x1F),
              let name = String(validating: term.bytes[..<separator], as: UTF8.self),
              let field = FacetField(rawValue: name) else { return nil }
        return (field, String(decoding: term.bytes[(separator + 1)...], as: UTF8.self))
    }
}
