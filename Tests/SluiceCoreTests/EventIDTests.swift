import SluiceCore
import Testing

/// A stored event's id is derived from its row; readers that hash it for every event write its
/// text into a temporary buffer instead of a string. Both must spell the same id, and a leaf
/// made from either must be the same leaf.
@Suite struct StoredEventIDTests {
    static let cases: [(Int64, Int64)] = [(0, 1), (1_765_000_000_123_456, 42), (-5, 7), (253_402_300_799_000_000, .max), (1_629_206_937_801_578, -1)]

    @Test func theStoredTextIsTheStoredID() {
        for (micros, seq) in StoredEventIDTests.cases {
            let id = EventID.stored(occurredAt: Timestamp(microseconds: micros), seq: seq)
            let text = EventID.withStoredText(occurredAt: Timestamp(microseconds: micros), seq: seq) { String(decoding: $0, as: UTF8.self) }
            #expect(text == id.rawValue, "\(micros), \(seq)")
            #expect(EventID(text) == id)
            #expect(id.names(occurredAt: Timestamp(microseconds: micros), seq: seq))
        }
    }

    @Test func aRowMakesTheLeafOfItsEvent() {
        let normalized = NormalizedEvent(occurredAt: Timestamp(microseconds: 1_765_000_000_123_456), action: "login")
        for legacy in [nil, EventID("01FCNDV6P870EA6S7TK1DSYDG0")] {
            let event = StoredEvent(
                seq: 9, id: legacy ?? EventID.stored(occurredAt: normalized.occurredAt, seq: 9), source: "s", logType: "JSON",
                receivedAt: Timestamp(microseconds: 1_765_000_001_000_000), normalized: normalized, raw: Array("{}".utf8)
            )
            let row = IntegrityRow(reading: event)
            #expect(row.leaf.map { Array($0) } == IntegrityLeaf.hash(of: event))
            #expect(row.id == event.id && row.legacyID == legacy)
        }
    }
}
