import Crypto
import SluiceCore

/// What a store keeps of one event besides its indexed columns, before compression: the raw
/// bytes exactly as received, then the normalized fields a listing shows that the columns do not
/// hold (actor, targets, context, schema version, time of arrival).
///
/// The normalized values are mostly substrings of the raw bytes just before them, so once the
/// record is compressed they cost a few bytes of back-references each; keeping them here instead
/// of re-running a normalizer on read keeps reads exact and cheap (docs/storage.md, "Rows").
///
/// Layout (format 1; integers are LEB128 varints, signed ones zigzag-encoded; a string is its
/// UTF-8 length then its bytes; an optional string is its length plus one, 0 for none):
///
///     format (1 byte) · raw length · raw · received_at − occurred_at (µs) · flags
///     [actor: type · id · name? · metadata count · (key · value)*]
///     target count · (type · id · name?)*
///     [location] · [user agent] · [schema version] · [legacy id, 16 bytes]
///
/// The raw bytes and the time of arrival come first, so that delivery, which needs nothing
/// else, reads only the head (``decodeHead(_:occurredAt:)``).
package enum EventRecord {
    package static let format: UInt8 = 1

    struct Flags: OptionSet {
        let rawValue: UInt64
        static let actor = Flags(rawValue: 1)
        static let location = Flags(rawValue: 2)
        static let userAgent = Flags(rawValue: 4)
        static let schemaVersion = Flags(rawValue: 8)
        static let legacyID = Flags(rawValue: 16)
    }

    /// An event read back from its record and its row's columns.
    package struct Fields: Sendable {
        package var raw: [UInt8]
        package var actor: AuditActor?
        package var targets: [AuditTarget]
        package var context: AuditContext
        package var schemaVersion: Int?
        package var receivedAt: Timestamp
        /// The random id an event stored before the lean store was given.
        package var legacyID: EventID?
    }

    /// Appends the record of one event to `out`.
    package static func encode(
        raw: [UInt8], normalized n: NormalizedEvent, receivedAt: Timestamp, legacyID: EventID? = nil, into out: inout [UInt8]
    ) {
        out.append(format)
        Varint.append(UInt64(raw.count), to: &out)
        out.append(contentsOf: raw)
        Varint.appendSigned(receivedAt.microseconds &- n.occurredAt.microseconds, to: &out)
        var flags: Flags = []
        if n.actor != nil { flags.insert(.actor) }
        if n.context.location != nil { flags.insert(.location) }
        if n.context.userAgent != nil { flags.insert(.userAgent) }
        if n.schemaVersion != nil { flags.insert(.schemaVersion) }
        let legacyBits = legacyID?.bits
        if legacyBits != nil { flags.insert(.legacyID) }
        Varint.append(flags.rawValue, to: &out)
        if let actor = n.actor {
            string(actor.type, &out)
            string(actor.id, &out)
            optional(actor.name, &out)
            Varint.append(UInt64(actor.metadata.count), to: &out)
            // Sorted, so that one event always makes the same bytes (the dictionary's order is not).
            if actor.metadata.count == 1, let (key, value) = actor.metadata.first {
                string(key, &out)
                string(value, &out)
            } else {
                for (key, value) in actor.metadata.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
                    string(key, &out)
                    string(value, &out)
                }
            }
        }
        Varint.append(UInt64(n.targets.count), to: &out)
        for target in n.targets {
            string(target.type, &out)
            string(target.id, &out)
            optional(target.name, &out)
        }
        if let location = n.context.location { string(location, &out) }
        if let userAgent = n.context.userAgent { string(userAgent, &out) }
        if let version = n.schemaVersion { Varint.appendSigned(Int64(version), to: &out) }
        if let (high, low) = legacyBits {
            withUnsafeBytes(of: high.bigEndian) { out.append(contentsOf: $0) }
            withUnsafeBytes(of: low.bigEndian) { out.append(contentsOf: $0) }
        }
    }

    /// Reads a record back; `occurredAt` comes from the row. Damaged bytes are an error, never
    /// a wrong event.
    package static func decode(_ bytes: [UInt8], occurredAt: Timestamp) throws(StoreError) -> Fields {
        var reader = ByteReader(bytes)
        guard try reader.byte() == format else {
            throw StoreError(.corrupt, "the stored record has an unknown format \(bytes.first.map(String.init) ?? "none")")
        }
        let raw = try reader.bytes(try reader.count())
        let receivedAt = Timestamp(microseconds: occurredAt.microseconds &+ (try reader.signedVarint()))
        let flags = Flags(rawValue: try reader.varint())
        var actor: AuditActor?
        if flags.contains(.actor) {
            let type = try reader.string()
            let id = try reader.string()
            let name = try reader.optionalString()
            var metadata: [String: String] = [:]
            for _ in 0..<(try reader.count()) {
                let key = try reader.string()
                metadata[key] = try reader.string()
            }
            actor = AuditActor(type: type, id: id, name: name, metadata: metadata)
        }
        var targets: [AuditTarget] = []
        let targetCount = try reader.count()
        targets.reserveCapacity(targetCount)
        for _ in 0..<targetCount {
            let type = try reader.string()
            let id = try reader.string()
            targets.append(AuditTarget(type: type, id: id, name: try reader.optionalString()))
        }
        let location = flags.contains(.location) ? try reader.string() : nil
        let userAgent = flags.contains(.userAgent) ? try reader.string() : nil
        let version = flags.contains(.schemaVersion) ? Int(truncatingIfNeeded: try reader.signedVarint()) : nil
        var legacyID: EventID?
        if flags.contains(.legacyID) {
            let high = try reader.uint64()
            legacyID = EventID(bits: high, try reader.uint64())
        }
        guard reader.isAtEnd else { throw StoreError(.corrupt, "the stored record has \(reader.remaining) unread bytes at its end") }
        return Fields(
            raw: raw, actor: actor, targets: targets, context: AuditContext(location: location, userAgent: userAgent),
            schemaVersion: version, receivedAt: receivedAt, legacyID: legacyID
        )
    }

    /// The stored event of a row: its columns and its record.
    package static func storedEvent(
        seq: Int64, source: String, logType: String, action: String, origin: String?, occurredAt: Timestamp, record: [UInt8]
    ) throws(StoreError) -> StoredEvent {
        let fields = try decode(record, occurredAt: occurredAt)
        return StoredEvent(
            seq: seq, id: fields.legacyID ?? EventID.stored(occurredAt: occurredAt, seq: seq), source: source, logType: logType,
            receivedAt: fields.receivedAt,
            normalized: NormalizedEvent(
                occurredAt: occurredAt, action: action, actor: fields.actor, targets: fields.targets, context: fields.context,
                schemaVersion: fields.schemaVersion
            ),
            raw: fields.raw, origin: origin
        )
    }

    /// The raw bytes and the time of arrival, from the record's head alone.
    package static func decodeHead(_ bytes: [UInt8], occurredAt: Timestamp) throws(StoreError) -> (raw: [UInt8], receivedAt: Timestamp) {
        var reader = ByteReader(bytes)
        guard try reader.byte() == format else {
            throw StoreError(.corrupt, "the stored record has an unknown format \(bytes.first.map(String.init) ?? "none")")
        }
        let raw = try reader.bytes(try reader.count())
        return (raw, Timestamp(microseconds: occurredAt.microseconds &+ (try reader.signedVarint())))
    }

    /// The integrity content digest (``IntegrityLeaf``) of the event whose record this is, with
    /// its row's columns, and its legacy id if it has one: the record's fields are copied into
    /// the leaf's encoding as they are read (into `fields`, emptied first: a reader reuses one),
    /// and no event is built.
    package static func integrityContent(
        _ bytes: [UInt8], source: String, logType: String, origin: String?, action: String, occurredAt: Int64,
        into fields: inout IntegrityLeaf.Fields
    ) throws(StoreError) -> (content: SHA256Digest, legacyID: EventID?) {
        var reader = ByteReader(bytes)
        guard try reader.byte() == format else {
            throw StoreError(.corrupt, "the stored record has an unknown format \(bytes.first.map(String.init) ?? "none")")
        }
        let rawCount = try reader.count()
        let rawStart = reader.offset
        reader.offset += rawCount
        fields.bytes.removeAll(keepingCapacity: true)
        fields.text(source)
        fields.text(logType)
        fields.presence(origin != nil)
        if let origin { fields.text(origin) }
        fields.number(occurredAt)
        fields.number(occurredAt &+ (try reader.signedVarint()))
        fields.text(action)
        let flags = Flags(rawValue: try reader.varint())
        func text() throws(StoreError) {
            let n = try reader.count()
            fields.text(bytes: bytes, reader.offset..<reader.offset + n)
            reader.offset += n
        }
        func optionalText() throws(StoreError) {
            let v = try reader.varint()
            fields.presence(v != 0)
            guard v != 0 else { return }
            guard v - 1 <= UInt64(reader.remaining) else { throw ByteReader.damaged("a length of \(v - 1) runs past its end") }
            let n = Int(v - 1)
            fields.text(bytes: bytes, reader.offset..<reader.offset + n)
            reader.offset += n
        }
        fields.presence(flags.contains(.actor))
        if flags.contains(.actor) {
            try text()
            try text()
            try optionalText()
            let metadata = try reader.count()
            fields.count(metadata)
            // Stored in the leaf's order already (UTF-8 byte order of the keys).
            for _ in 0..<metadata {
                try text()
                try text()
            }
        }
        let targets = try reader.count()
        fields.count(targets)
        for _ in 0..<targets {
            try text()
            try text()
            try optionalText()
        }
        fields.presence(flags.contains(.location))
        if flags.contains(.location) { try text() }
        fields.presence(flags.contains(.userAgent))
        if flags.contains(.userAgent) { try text() }
        fields.presence(flags.contains(.schemaVersion))
        if flags.contains(.schemaVersion) { fields.number(Int64(Int(truncatingIfNeeded: try reader.signedVarint()))) }
        var legacyID: EventID?
        if flags.contains(.legacyID) {
            let high = try reader.uint64()
            legacyID = EventID(bits: high, try reader.uint64())
        }
        guard reader.isAtEnd else { throw StoreError(.corrupt, "the stored record has \(reader.remaining) unread bytes at its end") }
        let content = bytes.withUnsafeBytes { all in fields.digest(raw: UnsafeRawBufferPointer(rebasing: all[rawStart..<rawStart + rawCount])) }
        return (content, legacyID)
    }

    private static func string(_ value: String, _ out: inout [UInt8]) {
        var value = value
        value.withUTF8 { utf8 in
            Varint.append(UInt64(utf8.count), to: &out)
            out += utf8
        }
    }

    private static func optional(_ value: String?, _ out: inout [UInt8]) {
        guard var value else { return Varint.append(0, to: &out) }
        value.withUTF8 { utf8 in
            Varint.append(UInt64(utf8.count) + 1, to: &out)
            out += utf8
        }
    }
}

/// LEB128 varints: 7 bits a byte, low bits first.
package enum Varint {
    package static func append(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    /// Zigzag first, so that small negative values stay short.
    package static func appendSigned(_ value: Int64, to out: inout [UInt8]) {
        append(UInt64(bitPattern: (value << 1) ^ (value >> 63)), to: &out)
    }
}

/// Reads a record's fields in order; every read past the end or out of range is `.corrupt`.
struct ByteReader {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { offset == bytes.count }
    var remaining: Int { bytes.count - offset }

    static func damaged(_ what: String) -> StoreError { StoreError(.corrupt, "the stored record is damaged: \(what)") }

    mutating func byte() throws(StoreError) -> UInt8 {
        guard offset < bytes.count else { throw Self.damaged("it ends early") }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func varint() throws(StoreError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            guard shift < 64 else { throw Self.damaged("a number is too long") }
            value |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return value }
            shift += 7
        }
    }

    mutating func signedVarint() throws(StoreError) -> Int64 {
        let v = try varint()
        return Int64(bitPattern: (v >> 1) ^ (0 &- (v & 1)))
    }

    /// A length or count, which must fit in what is left.
    mutating func count() throws(StoreError) -> Int {
        let v = try varint()
        guard v <= UInt64(remaining) else { throw Self.damaged("a length of \(v) runs past its end") }
        return Int(v)
    }

    mutating func bytes(_ n: Int) throws(StoreError) -> [UInt8] {
        guard n <= remaining else { throw Self.damaged("it ends early") }
        defer { offset += n }
        return Array(bytes[offset..<offset + n])
    }

    mutating func string() throws(StoreError) -> String {
        let n = try count()
        defer { offset += n }
        return String(decoding: bytes[offset..<offset + n], as: UTF8.self)
    }

    mutating func optionalString() throws(StoreError) -> String? {
        let v = try varint()
        if v == 0 { return nil }
        guard v - 1 <= UInt64(remaining) else { throw Self.damaged("a length of \(v - 1) runs past its end") }
        let n = Int(v - 1)
        defer { offset += n }
        return String(decoding: bytes[offset..<offset + n], as: UTF8.self)
    }

    mutating func uint64() throws(StoreError) -> UInt64 {
        guard remaining >= 8 else { throw Self.damaged("it ends early") }
        var v: UInt64 = 0
        for _ in 0..<8 { v = v << 8 | UInt64(try byte()) }
        return v
    }
}
