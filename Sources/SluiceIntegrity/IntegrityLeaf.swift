import SluiceCore

/// What a checkpoint's tree is made of: one leaf per stored event (checkpoints' own events
/// aside). Its data is binary, every field in a fixed order, so that a verifier can rebuild it
/// from the event as the API exports it plus its raw bytes (docs/integrity.md gives the exact
/// layout and a Python verifier):
///
/// `sluice-leaf-v1` and a line feed; seq; id; feed; log type; origin?; occurred at; received at;
/// action; actor? (type, id, name?, metadata count, then each key and value, keys in UTF-8 byte
/// order); targets count, then each target's type, id and name?; location?; user agent?;
/// schema version?; raw bytes. A number is 8 bytes big-endian (times in microseconds since
/// 1970); a text is its UTF-8 byte count as 4 bytes big-endian, then the bytes; a field marked ?
/// is one byte 0 when absent, else 1 and the value; the raw bytes are a text of bytes.
///
/// So a leaf covers what identifies the event (seq, id, source, time received), every normalized
/// field, and what the sender sent, byte for byte.
public enum IntegrityLeaf {
    static let prefix = Array("sluice-leaf-v1\n".utf8)

    public static func data(of event: StoredEvent) -> [UInt8] {
        var out = prefix
        out.reserveCapacity(160 + event.raw.count)
        number(event.seq, &out)
        text(event.id.rawValue, &out)
        text(event.source, &out)
        text(event.logType, &out)
        optional(event.origin, &out, text)
        let normalized = event.normalized
        number(normalized.occurredAt.microseconds, &out)
        number(event.receivedAt.microseconds, &out)
        text(normalized.action, &out)
        optional(normalized.actor, &out) { actor, out in
            text(actor.type, &out)
            text(actor.id, &out)
            optional(actor.name, &out, text)
            count(actor.metadata.count, &out)
            for key in actor.metadata.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                text(key, &out)
                text(actor.metadata[key]!, &out)
            }
        }
        count(normalized.targets.count, &out)
        for target in normalized.targets {
            text(target.type, &out)
            text(target.id, &out)
            optional(target.name, &out, text)
        }
        optional(normalized.context.location, &out, text)
        optional(normalized.context.userAgent, &out, text)
        optional(normalized.schemaVersion.map(Int64.init), &out, number)
        count(event.raw.count, &out)
        out.append(contentsOf: event.raw)
        return out
    }

    /// The leaf hash (RFC 6962: SHA-256 of 0x00 and the data).
    public static func hash(of event: StoredEvent) -> MerkleHash {
        MerkleTree.leafHash(data(of: event))
    }

    private static func number(_ value: Int64, _ out: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) }
    }

    private static func count(_ value: Int, _ out: inout [UInt8]) {
        withUnsafeBytes(of: UInt32(truncatingIfNeeded: value).bigEndian) { out.append(contentsOf: $0) }
    }

    private static func text(_ value: String, _ out: inout [UInt8]) {
        var value = value
        value.withUTF8 { bytes in
            count(bytes.count, &out)
            out.append(contentsOf: bytes)
        }
    }

    private static func optional<T>(_ value: T?, _ out: inout [UInt8], _ write: (T, inout [UInt8]) -> Void) {
        guard let value else { return out.append(0) }
        out.append(1)
        write(value, &out)
    }
}
