import Foundation
import SluiceCore

/// A checkpoint stored as an event of Sluice's own (source `sluice`, log type
/// `SLUICE_INTEGRITY`, action `integrity.checkpoint`), so that routes can ship checkpoints off the
/// machine like any other event. Its raw JSON carries the signed statement and the signature
/// (base64) beside the statement's values, for readers that do not parse the statement.
extension IntegrityCheckpoint {
    public static let logType = AdminAuditEntry.integrityLogType
    public static let action = "integrity.checkpoint"

    public var incomingEvent: IncomingEvent {
        let document = JSONValue.object([
            JSONMember("statement", .string(statement)),
            JSONMember("signature", .string(Data(signature).base64EncodedString())),
            JSONMember("key_id", .string(keyID)),
            JSONMember("seqs", .string(seqs.description)),
            JSONMember("count", .number(String(seqs.count))),
            JSONMember("root", .string(root.hexString)),
            JSONMember("fingerprints", .string(fingerprints.hexString)),
            JSONMember("previous", .string(previous.hexString)),
            JSONMember("time", .string(time.rfc3339)),
        ])
        var raw: [UInt8] = []
        document.write(into: &raw, sortedKeys: false)
        return IncomingEvent(
            source: AdminAuditEntry.source, logType: Self.logType, dedupeKey: Array(hash.prefix(16)), raw: raw,
            normalized: NormalizedEvent(
                occurredAt: time, action: Self.action, actor: AdminAuditEntry.system,
                targets: [AuditTarget(type: "seq_range", id: seqs.description, name: "\(seqs.count) events")]
            )
        )
    }

    /// The checkpoint a stored checkpoint event holds; nil when the event is not one or is damaged.
    public init?(event: StoredEvent) {
        guard event.logType == Self.logType, event.source == AdminAuditEntry.source,
              let document = try? JSONParser.parse(event.raw),
              case .string(let statement)? = document["statement"],
              case .string(let signature)? = document["signature"],
              let signatureBytes = Data(base64Encoded: signature) else { return nil }
        self.init(statement: statement, signature: Array(signatureBytes))
    }

    /// Every stored checkpoint with its event's seq, oldest first (damaged ones left out: the
    /// verifier names them).
    public static func stored(in store: any EventStore) async throws(StoreError) -> [(seq: Int64, checkpoint: IntegrityCheckpoint)] {
        var found: [(Int64, IntegrityCheckpoint)] = []
        var cursor: EventCursor?
        repeat {
            let page = try await store.events(matching: EventFilter(source: AdminAuditEntry.source, logType: logType), after: cursor, limit: 1_000)
            for event in page.events {
                if let checkpoint = IntegrityCheckpoint(event: event) { found.append((event.seq, checkpoint)) }
            }
            cursor = page.nextCursor
        } while cursor != nil
        return found.sorted { $0.0 < $1.0 }
    }

    /// Whether a stored event is a checkpoint (the events checkpoints do not cover).
    public static func isCheckpoint(_ event: StoredEvent) -> Bool {
        IntegrityRow.isCheckpoint(source: event.source, logType: event.logType)
    }
}
