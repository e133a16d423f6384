#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension JSONValue {
    /// Compact JSON with members in their original order.
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(into: &out, sortedKeys: false)
        return out
    }

    /// Canonical JSON: members sorted by the UTF-8 bytes of their names (last duplicate wins),
    /// no whitespace, numbers as written. Two senders' renderings of the same event agree here,
    /// which makes it the dedupe key for events that carry no id of their own.
    public func canonicalBytes(capacity: Int = 256) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(capacity)
        write(into: &out, sortedKeys: true)
        return out
    }

    public func write(into out: inout [UInt8], sortedKeys: Bool) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let n): out.append(contentsOf: n.utf8)
        case .string(let s): JSONValue.writeString(s, into: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                item.write(into: &out, sortedKeys: sortedKeys)
            }
            out.append(UInt8(ascii: "]"))
        case .object(var members):
            if sortedKeys {
                members = JSONValue.canonicalOrder(members)
            }
            out.append(UInt8(ascii: "{"))
            for (i, member) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.writeString(member.key, into: &out)
                out.append(UInt8(ascii: ":"))
                member.value.write(into: &out, sortedKeys: sortedKeys)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Members sorted by name (bytewise), keeping only the last of any repeated name (the same
    /// bytes). Sorting by (name, position) and keeping the last of each run avoids a per-object
    /// dictionary; names compare with memcmp over their UTF-8 storage.
    static func canonicalOrder(_ members: [JSONMember]) -> [JSONMember] {
        if members.count < 2 { return members }
        func compare(_ a: Int, _ b: Int) -> Int32 {
            var ka = members[a].key
            var kb = members[b].key
            return ka.withUTF8 { x in
                kb.withUTF8 { y in
                    let common = min(x.count, y.count)
                    let c = common == 0 ? 0 : memcmp(x.baseAddress!, y.baseAddress!, common)
                    return c != 0 ? c : Int32(x.count) - Int32(y.count)
                }
            }
        }
        let order = members.indices.sorted { a, b in
            let c = compare(a, b)
            return c == 0 ? a < b : c < 0
        }
        var result: [JSONMember] = []
        result.reserveCapacity(members.count)
        for (position, index) in order.enumerated() {
            if position + 1 < order.count, compare(order[position + 1], index) == 0 { continue }
            result.append(members[index])
        }
        return result
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Writes a JSON string literal, escaping quotes, backslashes and control characters.
    public static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { bytes in
            // Runs of bytes that need no escape (nearly all of them) are copied whole.
            var clean = 0
            for i in bytes.indices {
                let b = bytes[i]
                guard b == 0x22 || b == 0x5C || b < 0x20 else { continue }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[clean..<i]))
                clean = i + 1
                switch b {
                case 0x22: out.append(0x5C); out.append(0x22)
                case 0x5C: out.append(0x5C); out.append(0x5C)
                case 0x0A: out.append(0x5C); out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(0x5C); out.append(UInt8(ascii: "r"))
                case 0x09: out.append(0x5C); out.append(UInt8(ascii: "t"))
                default:
                    out.append(contentsOf: "\\u00".utf8)
                    out.append(hexDigits[Int(b >> 4)])
                    out.append(hexDigits[Int(b & 0xF)])
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[clean...]))
        }
        out.append(UInt8(ascii: "\""))
    }

    /// A JSON string literal for `s`, as a Swift string.
    public static func quoted(_ s: String) -> String {
        var out: [UInt8] = []
        writeString(s, into: &out)
        return String(decoding: out, as: UTF8.self)
    }
}

extension JSONValue {
    /// Indented JSON for people (two spaces a level), members in their original order, numbers as written.
    public func prettyPrinted() -> String {
        var out: [UInt8] = []
        writePretty(into: &out, depth: 0)
        return String(decoding: out, as: UTF8.self)
    }

    private func writePretty(into out: inout [UInt8], depth: Int) {
        func newline(_ level: Int) {
            out.append(0x0A)
            out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: level * 2))
        }
        switch self {
        case .array(let items) where !items.isEmpty:
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(depth + 1)
                item.writePretty(into: &out, depth: depth + 1)
            }
            newline(depth)
            out.append(UInt8(ascii: "]"))
        case .object(let members) where !members.isEmpty:
            out.append(UInt8(ascii: "{"))
            for (i, member) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(depth + 1)
                JSONValue.writeString(member.key, into: &out)
                out.append(contentsOf: ": ".utf8)
                member.value.writePretty(into: &out, depth: depth + 1)
            }
            newline(depth)
            out.append(UInt8(ascii: "}"))
        default:
            write(into: &out, sortedKeys: false)
        }
    }
}
