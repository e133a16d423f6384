import SluiceCore

/// A test on a run's values: `all`, `any`, `not`, or one comparison of an operand (a JSON path
/// into the alert, or a template over the scope) with `equals`, `not_equals`, `in`, `prefix`,
/// `contains` or `exists`.
public indirect enum WorkflowCondition: Sendable {
    case all([WorkflowCondition])
    case any([WorkflowCondition])
    case not(WorkflowCondition)
    case compare(Operand, Comparison)

    public enum Operand: Sendable {
        case path(JSONPath)
        case template(Template)
    }

    public enum Comparison: Sendable {
        case equals(String)
        case notEquals(String)
        case oneOf([String])
        case prefix(String)
        case contains(String)
        case exists(Bool)
    }

    /// - Parameters:
    ///   - alert: the alert's parsed body (`$` of a path).
    ///   - scope: the run's values (what templates read).
    public func holds(alert: JSONValue, scope: JSONValue) -> Bool {
        switch self {
        case .all(let parts): return parts.allSatisfy { $0.holds(alert: alert, scope: scope) }
        case .any(let parts): return parts.contains { $0.holds(alert: alert, scope: scope) }
        case .not(let inner): return !inner.holds(alert: alert, scope: scope)
        case .compare(let operand, let comparison):
            let value: JSONValue?
            switch operand {
            case .path(let path): value = path.value(in: alert)
            case .template(let template):
                let text = template.render(scope)
                value = text.isEmpty ? nil : .string(text)
            }
            let present = value.map { !$0.isNull } ?? false
            let text = value?.textValue ?? ""
            switch comparison {
            case .exists(let wanted): return present == wanted
            case .equals(let expected): return present && text == expected
            case .notEquals(let expected): return !present || text != expected
            case .oneOf(let options): return present && options.contains(text)
            case .prefix(let start): return present && text.hasPrefix(start)
            case .contains(let part):
                if let items = value?.arrayValue { return items.contains { $0.textValue == part } }
                return present && text.contains(part)
            }
        }
    }
}
