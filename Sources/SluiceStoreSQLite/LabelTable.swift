import Foundation
import GRDB
import SluiceCore
import Synchronization

/// The names an event row refers to by number (`labels`): sources, log types, actions and
/// origins repeat across millions of rows, so each is stored once and rows hold a 1–3 byte id.
///
/// Labels are never changed or deleted, so both directions are cached for good. The writer adds
/// a label inside its transaction and publishes it to the cache only once that commits: a label
/// of a rolled-back transaction never reaches the cache, where its id could name another later.
final class LabelTable: Sendable {
    enum Kind: Int, Sendable {
        case source = 1, logType = 2, action = 3, origin = 4
    }

    /// A name of one kind.
    struct LabelName: Hashable, Sendable {
        var kind: Kind
        var value: String

        static func == (a: LabelName, b: LabelName) -> Bool {
            a.kind == b.kind && a.value.utf8.elementsEqual(b.value.utf8)
        }

        func hash(into hasher: inout Hasher) {
            hasher.combine(kind)
            var text = value
            text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        }
    }

    private struct Key: Hashable {
        var kind: Int
        var value: [UInt8]
    }

    private struct Cache {
        var ids: [Key: Int64] = [:]
        var values: [Int64: String] = [:]
    }

    private let cache = Mutex(Cache())

    /// The ids of `values`, adding those that are new inside the writer's transaction `db`.
    /// Call it before any savepoint of the transaction, so that a label it adds is undone only
    /// with the whole transaction (and then never cached).
    func ids(_ values: Set<LabelName>, in db: Database) throws -> [LabelName: Int64] {
        var found: [LabelName: Int64] = [:]
        var missing: [LabelName] = []
        cache.withLock { cache in
            for name in values {
                if let id = cache.ids[Key(kind: name.kind.rawValue, value: Array(name.value.utf8))] { found[name] = id } else { missing.append(name) }
            }
        }
        guard !missing.isEmpty else { return found }
        let insert = try db.cachedStatement(sql: "INSERT INTO labels (kind, value) VALUES (?, ?) ON CONFLICT (kind, value) DO NOTHING")
        let select = try db.cachedStatement(sql: "SELECT id FROM labels WHERE kind = ? AND value = ?")
        var added: [(Key, Int64, String)] = []
        for name in missing {
            let bytes = Data(name.value.utf8)
            try insert.execute(arguments: [name.kind.rawValue, bytes])
            guard let id = try Int64.fetchOne(select, arguments: [name.kind.rawValue, bytes]) else {
                throw StoreError(.unavailable, "label \(name.kind) could not be stored")
            }
            found[name] = id
            added.append((Key(kind: name.kind.rawValue, value: Array(name.value.utf8)), id, name.value))
        }
        let committed = added
        db.afterNextTransaction { _ in
            self.cache.withLock { cache in
                for (key, id, value) in committed {
                    cache.ids[key] = id
                    cache.values[id] = value
                }
            }
        }
        return found
    }

    /// The id of `value` if it is stored, without adding it (for filters: an unknown name matches no row).
    func existingID(_ kind: Kind, _ value: String, in db: Database) throws -> Int64? {
        let key = Key(kind: kind.rawValue, value: Array(value.utf8))
        if let known = cache.withLock({ $0.ids[key] }) { return known }
        return try Int64.fetchOne(db, sql: "SELECT id FROM labels WHERE kind = ? AND value = ?", arguments: [kind.rawValue, Data(key.value)])
    }

    /// The name label `id` stands for.
    func value(_ id: Int64, in db: Database) throws -> String {
        if let known = cache.withLock({ $0.values[id] }) { return known }
        guard let row = try Row.fetchOne(db, sql: "SELECT kind, value FROM labels WHERE id = ?", arguments: [id]) else {
            throw StoreError(.corrupt, "an event names label \(id), which the store does not have")
        }
        let bytes: Data = row[1]
        let value = String(decoding: bytes, as: UTF8.self)
        let key = Key(kind: row[0], value: Array(bytes))
        cache.withLock { cache in
            cache.values[id] = value
            cache.ids[key] = id
        }
        return value
    }
}
