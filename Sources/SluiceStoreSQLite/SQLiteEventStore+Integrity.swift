import GRDB
import GRDBSQLite
import SluiceCore
import SluiceStoreKit
import Synchronization

extension SQLiteEventStore {
    public func keepCommitDigests() -> CommitDigests? {
        keepsCommitDigests.store(true, ordering: .relaxed)
        return commitDigests
    }

    /// With `digestsAtCommit`, the page's seqs are read (the rowid b-tree alone, nothing
    /// decompressed) and served from ``CommitDigests`` when this process recorded them all;
    /// otherwise, and always for verification, the rows are read and digested on two threads.
    public func integrityRows(after seq: Int64, limit: Int, digestsAtCommit: Bool) async throws(StoreError) -> [IntegrityRow] {
        do {
            if legacyRemains.load(ordering: .relaxed) {
                return try await events(afterSeq: seq, limit: limit).map(IntegrityRow.init(reading:))
            }
            var through = Int64.max
            if digestsAtCommit && keepsCommitDigests.load(ordering: .relaxed) {
                let seqs = try await pool.read { db in
                    try Int64.fetchAll(db, sql: "SELECT seq FROM events WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [seq, limit])
                }
                guard let last = seqs.last else { return [] }
                let taken = commitDigests.take(seqs)
                if taken.allSatisfy({ $0 != nil }) {
                    return taken.map { entry in
                        let entry = entry!
                        return IntegrityRow(seq: entry.seq, occurredAt: entry.occurredAt, legacyID: nil, content: entry.content, checkpoint: nil)
                    }
                }
                through = last
            }
            let bound = through
            return try await pool.read { db in
                let statement = try db.makeStatement(
                    sql: "SELECT \(SQLiteEventRows.columns) FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
                )
                try statement.setArguments([seq, bound, limit])
                // Stepped by hand: this runs for every stored event, and a row's values are read
                // straight from SQLite (no `Row`, no `Data` per payload).
                let handle = statement.sqliteStatement
                var labels = LabelMemo()
                let digester = IntegrityDigester(book: self.book, contexts: self.contexts)
                while true {
                    let code = sqlite3_step(handle)
                    if code == SQLITE_DONE { break }
                    guard code == SQLITE_ROW else {
                        throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: statement.sql)
                    }
                    let dict: Int64? = sqlite3_column_type(handle, 6) == SQLITE_NULL ? nil : sqlite3_column_int64(handle, 6)
                    if let dict, dict > 0, !self.book.isLoaded(dict) {
                        _ = try self.book.dictionary(dict) { () throws(StoreError) in try SQLiteEventRows.loadDictionary(dict, in: db) }
                    }
                    let count = Int(sqlite3_column_bytes(handle, 7))
                    let payload = count == 0 ? [] : [UInt8](UnsafeRawBufferPointer(start: sqlite3_column_blob(handle, 7), count: count))
                    digester.add(IntegrityRowInput(
                        seq: sqlite3_column_int64(handle, 0),
                        source: try labels.value(sqlite3_column_int64(handle, 1), column: 0, self.labels, db),
                        logType: try labels.value(sqlite3_column_int64(handle, 2), column: 1, self.labels, db),
                        action: try labels.value(sqlite3_column_int64(handle, 3), column: 2, self.labels, db),
                        origin: sqlite3_column_type(handle, 5) == SQLITE_NULL ? nil : try labels.value(sqlite3_column_int64(handle, 5), column: 3, self.labels, db),
                        occurredAt: sqlite3_column_int64(handle, 4), dict: dict, payload: payload
                    ))
                }
                return try digester.finish()
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw Self.storeError(error, doing: "read events for integrity")
        }
    }
}

/// The last label read in each column: consecutive rows nearly always share their source and log
/// type, and mostly their action, so most rows skip the shared table's lock and lookup.
private struct LabelMemo {
    private var last: [(id: Int64, value: String)] = Array(repeating: (-1, ""), count: 4)

    mutating func value(_ id: Int64, column: Int, _ table: LabelTable, _ db: Database) throws -> String {
        if last[column].id == id { return last[column].value }
        let value = try table.value(id, in: db)
        last[column] = (id, value)
        return value
    }
}
