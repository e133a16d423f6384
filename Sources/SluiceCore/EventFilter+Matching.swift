extension EventFilter {
    /// Whether `event` meets every condition of the filter: the one rule both stores apply to the
    /// events their indexes propose.
    ///
    /// Text compares as bytes (UTF-8), as the indexes do: two spellings of one character that
    /// Unicode calls equivalent are different values here. Free text matches case-insensitively
    /// for ASCII letters, as a substring of the action or of the raw event.
    public func matches(_ event: StoredEvent) -> Bool {
        matches(source: event.source, logType: event.logType, action: event.normalized.action, occurredAt: event.normalized.occurredAt)
            && matchesNormalized(event.normalized)
            && matchesText(action: event.normalized.action, raw: event.raw)
    }

    /// The conditions on a row's columns (source, log type, action, time), which a store can
    /// check before it decodes the rest of the event.
    public func matches(source: String, logType: String, action: String, occurredAt: Timestamp) -> Bool {
        if let v = self.source, !same(v, source) { return false }
        if let v = self.logType, !same(v, logType) { return false }
        switch self.action {
        case .exact(let v)?: if !same(v, action) { return false }
        case .prefix(let v)?: if !action.utf8.starts(with: v.utf8) { return false }
        case nil: break
        }
        if let since, occurredAt < since { return false }
        if let until, occurredAt >= until { return false }
        return true
    }

    /// The conditions on the actor and the targets.
    public func matchesNormalized(_ n: NormalizedEvent) -> Bool {
        if let v = actor {
            guard let a = n.actor, same(v, a.id) || a.name.map({ same(v, $0) }) == true else { return false }
        }
        if let v = actorType {
            guard let a = n.actor, same(v, a.type) else { return false }
        }
        if let v = target, !n.targets.contains(where: { same(v, $0.id) || $0.name.map { same(v, $0) } == true }) { return false }
        if let v = targetType, !n.targets.contains(where: { same(v, $0.type) }) { return false }
        return true
    }

    /// The free-text condition (true when the filter has none).
    public func matchesText(action: String, raw: [UInt8]) -> Bool {
        guard let text, !text.isEmpty else { return true }
        let needle = Array(text.lowercased().utf8)
        return ASCIIFolded.contains(Array(action.utf8), needle) || ASCIIFolded.contains(raw, needle)
    }

    /// `a` is the filter's value. One holding NUL matches nothing, as in the indexes, which keep
    /// no term for such a value: events not indexed yet must not answer differently.
    private func same(_ a: String, _ b: String) -> Bool {
        a.utf8.count == b.utf8.count && a.utf8.elementsEqual(b.utf8) && !a.utf8.contains(0)
    }
}

/// Substring search that folds ASCII letters only, as SQLite's `lower()` does.
enum ASCIIFolded {
    /// Whether `haystack`, its ASCII letters lowered, contains `needle` (already lowered).
    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty else { return true }
        guard haystack.count >= needle.count else { return false }
        return haystack.withUnsafeBufferPointer { h in
            needle.withUnsafeBufferPointer { n in
                let first = n[0]
                let firstUpper: UInt8 = (first >= 0x61 && first <= 0x7A) ? first - 0x20 : first
                var i = 0
                let last = h.count - n.count
                while i <= last {
                    let b = h[i]
                    if b == first || b == firstUpper {
                        var j = 1
                        while j < n.count {
                            var c = h[i + j]
                            if c >= 0x41 && c <= 0x5A { c += 0x20 }
                            if c != n[j] { break }
                            j += 1
                        }
                        if j == n.count { return true }
                    }
                    i += 1
                }
                return false
            }
        }
    }
}
