/// PostgreSQL text cannot hold U+0000, which events may carry and Sluice stores faithfully. In a
/// row whose text has any NUL (flagged `escaped`), U+FFFF escapes: NUL becomes U+FFFF "0" and
/// U+FFFF itself U+FFFF U+FFFF. Rows without NUL are stored as they are.
enum PostgresText {
    static let escapeScalar: Unicode.Scalar = "\u{FFFF}"

    static func needsEscaping(_ values: [String?]) -> Bool {
        values.contains { $0?.utf8.contains(0) == true }
    }

    static func escape(_ value: String?) -> String? {
        guard let value else { return nil }
        var out = String.UnicodeScalarView()
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\u{0}": out.append(escapeScalar); out.append("0")
            case escapeScalar: out.append(escapeScalar); out.append(escapeScalar)
            default: out.append(scalar)
            }
        }
        return String(out)
    }

    static func unescape(_ value: String?) -> String? {
        guard let value else { return nil }
        var out = String.UnicodeScalarView()
        var pendingEscape = false
        for scalar in value.unicodeScalars {
            if pendingEscape {
                out.append(scalar == "0" ? "\u{0}" : scalar)
                pendingEscape = false
            } else if scalar == escapeScalar {
                pendingEscape = true
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }
}
