import Logging
import PostgresNIO
import SluiceCore

/// Commits made by other instances, heard through PostgreSQL's `LISTEN`/`NOTIFY`: every
/// transaction that commits events or an operator's change also sends a notification on the
/// schema's channel, which PostgreSQL delivers only when (and if) that transaction commits. Each
/// instance listens on one connection of its own and publishes what it hears on ``changes``, so
/// a delivery loop or workflow on one instance wakes for an event pushed to another instance as
/// soon as it commits, without polling. The consumers' timeout stays as a safety net for a
/// listener that is reconnecting.
extension PostgresEventStore {
    /// What a notification says committed.
    enum ChangeKind: String {
        case events = "e"
        case control = "c"
    }

    /// The notification channel of this schema (instances on other schemas never hear it). A
    /// channel name is an identifier, at most 63 bytes: a long schema name is hashed.
    static func changeChannel(schema: String) -> String {
        let name = "sluice:\(schema)"
        if name.utf8.count <= 63 { return name }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in schema.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return "sluice:" + String(hash, radix: 16)
    }

    /// Sends the notification of a commit from inside its transaction; `kind` and this
    /// instance's tag are its payload, so the instance can ignore its own.
    func notifyCommit(_ kind: ChangeKind, on connection: PostgresConnection) async throws {
        let (channel, payload) = notification(kind)
        try await connection.query("SELECT pg_notify(\(channel), \(payload))", logger: logger)
    }

    /// The channel and payload that tell other instances of a commit of `kind` by this one.
    func notification(_ kind: ChangeKind) -> (channel: String, payload: String) {
        (changeChannel, "\(kind.rawValue)\(instanceTag)")
    }

    /// Listens until cancelled, reconnecting after a second when the connection drops. On every
    /// (re)connection both counters move, since commits made while not listening were not heard.
    func listenForChanges() async {
        let changes = self.changes
        let tag = instanceTag
        var failures = 0
        while !Task.isCancelled {
            do {
                try await listener.withConnection { connection in
                    try await connection.listen(on: changeChannel) { notifications in
                        failures = 0
                        changes.changedElsewhere()
                        for try await notification in notifications where !notification.payload.hasSuffix(tag) {
                            switch ChangeKind(rawValue: String(notification.payload.prefix(1))) {
                            case .events: changes.eventsCommitted()
                            case .control, nil: changes.controlChanged()
                            }
                        }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                failures += 1
                // Once per outage, not once per retry.
                if failures == 1 {
                    logger.warning(
                        "not hearing other instances' commits; consumers look at the store every \(changes.fallback) until this reconnects",
                        metadata: ["error": "\(error)"]
                    )
                }
            }
            do { try await Task.sleep(for: .seconds(1)) } catch { return }
        }
    }
}
