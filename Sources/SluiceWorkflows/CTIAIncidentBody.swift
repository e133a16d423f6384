import SluiceCore

/// Checks and completes a rendered incident against CTIM's `NewIncident` rules before it is
/// sent, so a mistake in the workflow reads as a clear error instead of CTIA's schema dump.
enum CTIAIncidentBody {
    static let confidences: Set<String> = ["High", "Medium", "Low", "Info", "None", "Unknown"]
    static let severities: Set<String> = confidences.union(["Critical"])
    static let tlps: Set<String> = ["white", "green", "amber", "red"]
    static let statuses: Set<String> = [
        "New", "New: Presented", "New: Processing", "Open", "Open: Contained", "Open: Investigating", "Open: Recovered", "Open: Reported",
        "Closed", "Closed: Confirmed Threat", "Closed: False Positive", "Closed: Merged", "Closed: Near-Miss", "Closed: Other",
        "Closed: Suspected", "Closed: Under Review", "Containment Achieved", "Hold", "Hold: External", "Hold: Internal", "Hold: Legal",
        "Incident Reported", "Rejected", "Restoration Achieved", "Stalled",
    ]
    /// CTIM's length limits: ShortString, MedString, Markdown.
    static let limits: [String: Int] = ["title": 1024, "short_description": 2048, "source": 2048, "description": 5000]

    /// The body to send: `type` set, `id` removed (CTIA refuses ids from normal users), the
    /// external id first in `external_ids`, `incident_time.opened` defaulted to `opened`, long
    /// texts cut to CTIM's limits. Throws when a required field is missing or out of vocabulary.
    static func prepare(_ rendered: JSONValue, externalID: String, opened: Timestamp) throws(StepFailure) -> JSONValue {
        guard var members = rendered.objectMembers else {
            throw StepFailure("the incident must be a mapping of CTIA fields (title, status, confidence, …)", retryable: false)
        }
        members.removeAll { $0.key == "id" || $0.key == "type" }
        func text(_ key: String) -> String? { members.last { $0.key == key }?.value.textValue }
        func set(_ key: String, _ value: JSONValue) {
            if let index = members.lastIndex(where: { $0.key == key }) { members[index].value = value } else { members.append(JSONMember(key, value)) }
        }
        for (key, vocabulary, required) in [("confidence", confidences, true), ("status", statuses, true), ("severity", severities, false), ("tlp", tlps, false)] {
            guard let value = text(key), !value.isEmpty else {
                if required { throw StepFailure("the incident has no \(key); CTIA requires it (one of \(vocabulary.sorted().joined(separator: ", ")))", retryable: false) }
                members.removeAll { $0.key == key }
                continue
            }
            guard vocabulary.contains(value) else {
                throw StepFailure("the incident's \(key) \"\(value.prefix(60))\" is not one CTIA accepts: \(vocabulary.sorted().joined(separator: ", "))", retryable: false)
            }
        }
        for (key, limit) in limits {
            if let value = text(key), value.count > limit { set(key, .string(String(value.prefix(limit - 1)) + "…")) }
        }
        var times = members.last { $0.key == "incident_time" }?.value.objectMembers ?? []
        if let given = times.last(where: { $0.key == "opened" })?.value, given.textValue?.isEmpty == false {
            guard let time = Timestamp(json: given) else {
                throw StepFailure("the incident's incident_time.opened \"\(given.textValue ?? "")\" is not an RFC 3339 time", retryable: false)
            }
            times.removeAll { $0.key == "opened" }
            times.insert(JSONMember("opened", .string(milliseconds(time))), at: 0)
        } else {
            times.removeAll { $0.key == "opened" }
            times.insert(JSONMember("opened", .string(milliseconds(opened))), at: 0)
        }
        set("incident_time", .object(times))
        var ids = (members.last { $0.key == "external_ids" }?.value.arrayValue ?? []).compactMap { $0.textValue }.filter { $0 != externalID }
        ids.insert(externalID, at: 0)
        set("external_ids", .array(ids.map(JSONValue.string)))
        members.insert(JSONMember("type", .string("incident")), at: 0)
        return .object(members)
    }

    /// ISO 8601 with milliseconds and `Z`, as CTIM writes times.
    static func milliseconds(_ time: Timestamp) -> String {
        String(time.rfc3339.dropLast(4)) + "Z"
    }
}
