/// What a normalizer reads of a JSON value, whether built (``JSONValue``) or only mapped
/// (``JSONView``, which decodes just the fields asked for): one normalizer serves both.
public protocol JSONReadable {
    /// The value at a dotted path (a number indexes an array).
    func value(at path: FieldPath) -> Self?
    /// The last member named `key`, if this is an object.
    subscript(key: String) -> Self? { get }
    var isNull: Bool { get }
    var isObject: Bool { get }
    /// A scalar as text (strings as themselves, numbers as written), containers as compact JSON.
    var textValue: String? { get }
    /// A time: RFC 3339 text, or seconds, milliseconds or microseconds since 1970.
    var timestamp: Timestamp? { get }
    /// The elements, if this is an array.
    var elements: [Self]? { get }
    /// The members in order, if this is an object.
    var members: [(key: String, value: Self)]? { get }
    /// The only member, if this is an object with exactly one.
    var onlyMember: (key: String, value: Self)? { get }
}

extension JSONValue: JSONReadable {
    public var isObject: Bool {
        if case .object = self { return true }
        return false
    }

    public var timestamp: Timestamp? { Timestamp(json: self) }

    public var elements: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }

    public var members: [(key: String, value: JSONValue)]? {
        objectMembers.map { $0.map { ($0.key, $0.value) } }
    }

    public var onlyMember: (key: String, value: JSONValue)? {
        guard let members = objectMembers, members.count == 1 else { return nil }
        return (members[0].key, members[0].value)
    }
}

extension JSONView: JSONReadable {
    public var isObject: Bool { kind == .object }
}
