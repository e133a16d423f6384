import SluiceCore

/// One event as a line of chat: the body `{"text": "..."}` that Slack's and Microsoft Teams'
/// incoming webhooks both accept. Sluice's own silence alerts read as sentences; any other event
/// as its source, action, time and targets.
public enum ChatMessage {
    public static func body(for event: OutboundEvent) -> [UInt8] {
        var out: [UInt8] = []
        JSONValue.object([JSONMember("text", .string(text(for: event)))]).write(into: &out, sortedKeys: false)
        return out
    }

    public static func text(for event: OutboundEvent) -> String {
        let document = try? JSONParser.parse(event.raw)
        let target = document?["targets"]?.arrayValue?.first
        let targetText = [target?["type"]?.stringValue, target?["id"]?.stringValue].compactMap { $0 }.joined(separator: " ")
        let metadata = document?["metadata"]
        let within = metadata?["expected_within_seconds"]?.textValue.flatMap(Int64.init).map { Duration.seconds($0).shortText }
        let last = metadata?["last_event_at"]?.stringValue
        switch (event.source, event.action) {
        case (AdminAuditEntry.source, SourceSilence.wentSilentAction):
            return "Sluice: \(targetText) went silent: "
                + (last.map { "no event stored since \($0)" } ?? "no event stored yet")
                + (within.map { " (expected within \($0))." } ?? ".")
        case (AdminAuditEntry.source, SourceSilence.recoveredAction):
            return "Sluice: \(targetText) recovered: events arrive again" + (last.map { " (first at \($0))." } ?? ".")
        default:
            return "Sluice: \(event.source) \(event.action) at \(event.occurredAt.rfc3339)" + (targetText.isEmpty ? "" : " on \(targetText)")
        }
    }
}
