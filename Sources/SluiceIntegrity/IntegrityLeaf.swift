import SluiceCore

/// What a checkpoint's tree is made of: one leaf per stored event (checkpoints' own events
/// aside), its data the concatenation of
///
/// 1. the 15 bytes `sluice-leaf-v1` and a line feed;
/// 2. the event as the query API presents it *without* `raw` (`id`, `seq`, `feed`, `log_type`,
///    `origin` when it has one, `occurred_at`, `received_at`, `action`, `actor`, `targets`,
///    `context`, `schema_version`, in that order, no whitespace), preceded by its length as
///    4 bytes big-endian;
/// 3. the raw bytes exactly as received, preceded by their length as 4 bytes big-endian.
///
/// So a leaf covers what identifies the event (seq, id, source, time received), what Sluice made
/// of it (every normalized field) and what the sender sent, byte for byte. A verifier outside
/// Sluice gets the second part and the raw bytes with each event of a proof export
/// (docs/integrity.md).
public enum IntegrityLeaf {
    static let prefix = Array("sluice-leaf-v1\n".utf8)

    /// The event's fields as the leaf holds them (part 2).
    public static func fields(of event: StoredEvent) -> [UInt8] {
        var out: [UInt8] = []
        event.writeJSON(into: &out, includeRaw: false)
        return out
    }

    public static func data(of event: StoredEvent) -> [UInt8] {
        data(fields: fields(of: event), raw: event.raw)
    }

    public static func data(fields: [UInt8], raw: [UInt8]) -> [UInt8] {
        var out = prefix
        out.reserveCapacity(prefix.count + 8 + fields.count + raw.count)
        appendLength(fields.count, to: &out)
        out.append(contentsOf: fields)
        appendLength(raw.count, to: &out)
        out.append(contentsOf: raw)
        return out
    }

    /// The leaf hash (RFC 6962: SHA-256 of 0x00 and the data).
    public static func hash(of event: StoredEvent) -> MerkleHash {
        MerkleTree.leafHash(data(of: event))
    }

    private static func appendLength(_ count: Int, to out: inout [UInt8]) {
        let n = UInt32(truncatingIfNeeded: count)
        out.append(contentsOf: [UInt8(n >> 24), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)])
    }
}
