import SluiceCore

/// The bytes an event's dedupe key is stored as, in the unique (source, dedupe_key) index.
///
/// A key is the first 128 bits of the producer's key: collisions stay negligible (about 2⁻⁶⁴ at
/// four billion events per feed). When the event carries its own time, the time comes first
/// as 8 big-endian bytes: the keys of live events then sort near each other at the end of the
/// index, so a commit of a thousand events dirties a few index pages instead of a thousand
/// random ones, however large the store grows.
package enum StoredDedupeKey {
    package static let keyBytes = 16

    package static func bytes(for event: IncomingEvent) -> [UInt8] {
        let key = event.dedupeKey.prefix(keyBytes)
        guard let time = event.dedupeTime else { return Array(key) }
        // Flipping the sign bit makes byte order match numeric order across the epoch.
        let ordered = UInt64(bitPattern: time.microseconds) ^ (1 << 63)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(MemoryLayout<UInt64>.size + key.count)
        withUnsafeBytes(of: ordered.bigEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: key)
        return bytes
    }

    /// The key this event was stored under before keys carried the event's time (migration
    /// `2026-12-04-timed-dedupe-keys`); nil when its key has no time, since that form is unchanged.
    package static func untimed(for event: IncomingEvent) -> [UInt8]? {
        event.dedupeTime == nil ? nil : Array(event.dedupeKey.prefix(keyBytes))
    }

    /// The store_state row that holds the last seq stored before the change; 0 once no such
    /// event remains.
    package static let untimedThroughState = "untimed_dedupe_keys_through"
}
