import SluiceCore

/// The JSON encodings of the `actor_metadata` and `targets` columns.
package enum StoredJSON {
    package static func encodeMetadata(_ metadata: [String: String]) -> String {
        let object = JSONValue.object(metadata.keys.sorted().map { JSONMember($0, .string(metadata[$0]!)) })
        return String(decoding: object.serialized(), as: UTF8.self)
    }

    package static func decodeMetadata(_ text: String) -> [String: String] {
        guard let value = try? JSONParser.parse(Array(text.utf8)), let members = value.objectMembers else { return [:] }
        var out: [String: String] = [:]
        for member in members { out[member.key] = member.value.textValue ?? "" }
        return out
    }

    package static func encodeTargets(_ targets: [AuditTarget]) -> String {
        let array = JSONValue.array(targets.map { t in
            var members = [JSONMember("type", .string(t.type)), JSONMember("id", .string(t.id))]
            if let name = t.name { members.append(JSONMember("name", .string(name))) }
            return .object(members)
        })
        return String(decoding: array.serialized(), as: UTF8.self)
    }

    package static func decodeTargets(_ text: String) -> [AuditTarget] {
        guard let value = try? JSONParser.parse(Array(text.utf8)), let items = value.arrayValue else { return [] }
        return items.map { item in
            AuditTarget(type: item["type"]?.textValue ?? "", id: item["id"]?.textValue ?? "", name: item["name"]?.textValue)
        }
    }

    /// A journal's stored JSON text as a value (text that does not parse stays a string).
    package static func parsed(_ text: String) -> JSONValue {
        (try? JSONParser.parse(Array(text.utf8))) ?? .string(text)
    }
}
