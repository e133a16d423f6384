import Crypto

/// What a checkpoint's Merkle tree is made of: one leaf per stored event (checkpoints' own events
/// aside). Both parts are binary, every field in a fixed order, so that a verifier can rebuild
/// them from the event as the API exports it plus its raw bytes (docs/integrity.md gives the exact
/// layout and a Python verifier).
///
/// - The **content digest** is SHA-256 over: feed; log type; origin?; occurred at; received at;
///   action; actor? (type, id, name?, metadata count, then each key and value, keys in UTF-8 byte
///   order); targets count, then each target's type, id and name?; location?; user agent?; schema
///   version?; raw bytes.
/// - The **leaf data** is `sluice-leaf-v2` and a line feed; seq; id; the content digest (32 bytes).
///
/// A number is 8 bytes big-endian (times in microseconds since 1970); a text is its UTF-8 byte
/// count as 4 bytes big-endian, then the bytes; a field marked ? is one byte 0 when absent, else 1
/// and the value; the raw bytes are a text of bytes.
///
/// The split lets a store digest an event's content while it prepares the event (before its seq
/// exists, on as many threads as there are appends) and make the leaf from the seq afterwards
/// with one short hash; a leaf still covers what identifies the event (seq, id, source, time
/// received), every normalized field, and what the sender sent, byte for byte.
public enum IntegrityLeaf {
    static let prefix = Array("sluice-leaf-v2\n".utf8)

    /// The content digest of an event.
    public static func content(
        source: String, logType: String, origin: String?, normalized: NormalizedEvent, receivedAt: Timestamp, raw: [UInt8]
    ) -> SHA256Digest {
        var fields = Fields()
        return content(source: source, logType: logType, origin: origin, normalized: normalized, receivedAt: receivedAt, raw: raw, into: &fields)
    }

    /// ``content(source:logType:origin:normalized:receivedAt:raw:)`` encoding the fields in
    /// `fields` (emptied first), which a caller digesting many events reuses.
    public static func content(
        source: String, logType: String, origin: String?, normalized: NormalizedEvent, receivedAt: Timestamp, raw: [UInt8],
        into fields: inout Fields
    ) -> SHA256Digest {
        fields.bytes.removeAll(keepingCapacity: true)
        fields.text(source)
        fields.text(logType)
        fields.optional(origin) { $0.text($1) }
        fields.number(normalized.occurredAt.microseconds)
        fields.number(receivedAt.microseconds)
        fields.text(normalized.action)
        fields.optional(normalized.actor) { fields, actor in
            fields.text(actor.type)
            fields.text(actor.id)
            fields.optional(actor.name) { $0.text($1) }
            fields.count(actor.metadata.count)
            for key in actor.metadata.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                fields.text(key)
                fields.text(actor.metadata[key]!)
            }
        }
        fields.count(normalized.targets.count)
        for target in normalized.targets {
            fields.text(target.type)
            fields.text(target.id)
            fields.optional(target.name) { $0.text($1) }
        }
        fields.optional(normalized.context.location) { $0.text($1) }
        fields.optional(normalized.context.userAgent) { $0.text($1) }
        fields.optional(normalized.schemaVersion.map(Int64.init)) { $0.number($1) }
        return raw.withUnsafeBytes { fields.digest(raw: $0) }
    }

    /// The content digest of a stored event.
    public static func content(of event: StoredEvent) -> SHA256Digest {
        content(source: event.source, logType: event.logType, origin: event.origin, normalized: event.normalized, receivedAt: event.receivedAt, raw: event.raw)
    }

    /// The leaf data of the event with `seq` and `id` whose content digest is `content`.
    public static func data(seq: Int64, id: String, content: SHA256Digest) -> [UInt8] {
        var fields = Fields(prefix)
        fields.number(seq)
        fields.text(id)
        content.withUnsafeBytes { fields.bytes.append(contentsOf: $0) }
        return fields.bytes
    }

    /// The leaf hash (RFC 6962: SHA-256 of 0x00 and the leaf data).
    public static func hash(seq: Int64, id: String, content: SHA256Digest) -> [UInt8] {
        digest(seq: seq, id: id, content: content).withUnsafeBytes { Array($0) }
    }

    /// ``hash(seq:id:content:)`` as a digest value, hashed without building the data: this runs
    /// for every event a checkpoint or a verification reads.
    public static func digest(seq: Int64, id: String, content: SHA256Digest) -> SHA256Digest {
        var id = id
        return id.withUTF8 { digest(seq: seq, id: UnsafeRawBufferPointer($0), content: content) }
    }

    /// ``digest(seq:id:content:)`` with the id's UTF-8 bytes.
    public static func digest(seq: Int64, id: UnsafeRawBufferPointer, content: SHA256Digest) -> SHA256Digest {
        var hasher = SHA256()
        hasher.update(data: leafStart)
        withUnsafeBytes(of: seq.bigEndian) { hasher.update(bufferPointer: $0) }
        withUnsafeBytes(of: UInt32(truncatingIfNeeded: id.count).bigEndian) { hasher.update(bufferPointer: $0) }
        hasher.update(bufferPointer: id)
        content.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        return hasher.finalize()
    }

    /// RFC 6962's leaf prefix (0x00), then the leaf data's own.
    static let leafStart: [UInt8] = [0x00] + prefix

    /// The leaf hash of a stored event.
    public static func hash(of event: StoredEvent) -> [UInt8] {
        hash(seq: event.seq, id: event.id.rawValue, content: content(of: event))
    }

    /// The content's fields before the raw bytes, in the leaf's encoding; a store that reads its
    /// own record format writes them here field by field.
    public struct Fields {
        public var bytes: [UInt8]

        public init(_ start: [UInt8] = []) {
            bytes = start
            bytes.reserveCapacity(256)
        }

        public mutating func number(_ value: Int64) {
            withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
        }

        public mutating func count(_ value: Int) {
            withUnsafeBytes(of: UInt32(truncatingIfNeeded: value).bigEndian) { bytes.append(contentsOf: $0) }
        }

        public mutating func text(_ value: String) {
            var value = value
            value.withUTF8 { text(utf8: UnsafeRawBufferPointer($0)) }
        }

        public mutating func text(utf8: UnsafeRawBufferPointer) {
            count(utf8.count)
            bytes.append(contentsOf: utf8)
        }

        /// A text held in `source[range]` (UTF-8).
        public mutating func text(bytes source: [UInt8], _ range: Range<Int>) {
            count(range.count)
            bytes.append(contentsOf: source[range])
        }

        /// Marks a field marked ? as absent (false) or present (true, the value follows).
        public mutating func presence(_ present: Bool) {
            bytes.append(present ? 1 : 0)
        }

        mutating func optional<T>(_ value: T?, _ write: (inout Fields, T) -> Void) {
            presence(value != nil)
            if let value { write(&self, value) }
        }

        /// The content digest: these fields, then `raw` as a text of bytes.
        public func digest(raw: UnsafeRawBufferPointer) -> SHA256Digest {
            var hasher = SHA256()
            hasher.update(data: bytes)
            withUnsafeBytes(of: UInt32(truncatingIfNeeded: raw.count).bigEndian) { hasher.update(bufferPointer: $0) }
            hasher.update(bufferPointer: raw)
            return hasher.finalize()
        }
    }
}
