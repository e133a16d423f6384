extension StoredEvent {
    /// The event as the query API and NDJSON export present it: the normalized fields, and
    /// `raw`, the original event as JSON (on one line, so NDJSON stays line-delimited).
    public func writeJSON(into out: inout [UInt8], includeRaw: Bool = true) {
        func key(_ k: StaticString) {
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeBufferPointer(start: k.utf8Start, count: k.utf8CodeUnitCount))
            out.append(contentsOf: "\":".utf8)
        }
        func string(_ s: String?) {
            if let s { JSONValue.writeString(s, into: &out) } else { out.append(contentsOf: "null".utf8) }
        }
        out.append(UInt8(ascii: "{"))
        key("id"); string(id.rawValue); out.append(UInt8(ascii: ","))
        key("seq"); out.append(contentsOf: String(seq).utf8); out.append(UInt8(ascii: ","))
        key("feed"); string(source); out.append(UInt8(ascii: ","))
        key("log_type"); string(logType); out.append(UInt8(ascii: ","))
        if let origin { key("origin"); string(origin); out.append(UInt8(ascii: ",")) }
        key("occurred_at"); string(normalized.occurredAt.rfc3339); out.append(UInt8(ascii: ","))
        key("received_at"); string(receivedAt.rfc3339); out.append(UInt8(ascii: ","))
        key("action"); string(normalized.action); out.append(UInt8(ascii: ","))
        key("actor")
        if let actor = normalized.actor {
            out.append(UInt8(ascii: "{"))
            key("type"); string(actor.type); out.append(UInt8(ascii: ","))
            key("id"); string(actor.id); out.append(UInt8(ascii: ","))
            key("name"); string(actor.name); out.append(UInt8(ascii: ","))
            key("metadata"); out.append(UInt8(ascii: "{"))
            for (i, k) in actor.metadata.keys.sorted().enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.writeString(k, into: &out)
                out.append(UInt8(ascii: ":"))
                JSONValue.writeString(actor.metadata[k]!, into: &out)
            }
            out.append(contentsOf: "}}".utf8)
        } else {
            out.append(contentsOf: "null".utf8)
        }
        out.append(UInt8(ascii: ","))
        key("targets"); out.append(UInt8(ascii: "["))
        for (i, t) in normalized.targets.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "{"))
            key("type"); string(t.type); out.append(UInt8(ascii: ","))
            key("id"); string(t.id); out.append(UInt8(ascii: ","))
            key("name"); string(t.name)
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: "],".utf8)
        key("context"); out.append(UInt8(ascii: "{"))
        key("location"); string(normalized.context.location); out.append(UInt8(ascii: ","))
        key("user_agent"); string(normalized.context.userAgent)
        out.append(contentsOf: "},".utf8)
        key("schema_version")
        if let v = normalized.schemaVersion { out.append(contentsOf: String(v).utf8) } else { out.append(contentsOf: "null".utf8) }
        if includeRaw {
            out.append(UInt8(ascii: ","))
            key("raw")
            // Every CR or LF in valid JSON is insignificant whitespace (inside strings they must be
            // escaped), so turning them into spaces keeps the document identical in value.
            for b in raw { out.append(b == 0x0A || b == 0x0D ? 0x20 : b) }
        }
        out.append(UInt8(ascii: "}"))
    }
}

/// CSV rendering of the audit log, neutralizing spreadsheet formulas (OWASP CSV injection).
public enum AuditCSV {
    public static let header = "occurred_at,action,actor_type,actor_id,actor_name,targets,location,user_agent,version,feed,log_type,id\r\n"

    public static func row(for event: StoredEvent) -> String {
        let n = event.normalized
        let targets = n.targets.map { t in
            var s = "\(t.type):\(t.id)"
            if let name = t.name, !name.isEmpty { s += " (\(name))" }
            return s
        }.joined(separator: "; ")
        let cells: [String] = [
            n.occurredAt.rfc3339, n.action, n.actor?.type ?? "", n.actor?.id ?? "", n.actor?.name ?? "",
            targets, n.context.location ?? "", n.context.userAgent ?? "",
            n.schemaVersion.map(String.init) ?? "", event.source, event.logType, event.id.rawValue,
        ]
        return cells.map(cell).joined(separator: ",") + "\r\n"
    }

    /// One cell: a leading `=`, `+`, `-`, `@`, tab or CR gets a `'` so spreadsheets show text
    /// instead of evaluating it; then RFC 4180 quoting where needed.
    public static func cell(_ value: String) -> String {
        var v = value
        if let first = v.unicodeScalars.first, ["=", "+", "-", "@", "\t", "\r"].contains(first) {
            v = "'" + v
        }
        if v.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
            v = "\"" + v.replacingOccurrencesOfQuote() + "\""
        }
        return v
    }
}

extension String {
    fileprivate func replacingOccurrencesOfQuote() -> String {
        var out = ""
        out.reserveCapacity(utf8.count + 2)
        for ch in self {
            if ch == "\"" { out += "\"\"" } else { out.append(ch) }
        }
        return out
    }
}
