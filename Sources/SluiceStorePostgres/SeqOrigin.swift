/// How rows get their `seq` on PostgreSQL without any lock, and how far a consumer may read
/// (docs/storage.md, "Ordering on PostgreSQL").
///
/// A row's seq is `seq + (its transaction's id − transaction) × 2²⁰ + its index in that
/// transaction`, from the origin (`transaction`, `seq`) recorded by the migration that introduced
/// it. So seq order is the order of (transaction id, index), and a seq says which transaction
/// wrote it. A transaction id below the snapshot's `xmin` belongs to a transaction that has
/// finished: it has committed or never will. A reader that only reads seqs below ``watermark``
/// therefore never later finds a committed seq below one it has read, whatever commits later: a
/// later commit's transaction was still running, or had not begun, so its id is at least `xmin`.
struct SeqOrigin: Sendable, Equatable {
    /// `store_state` names of the two halves.
    static let transactionState = "seq_origin_transaction"
    static let seqState = "seq_origin_seq"
    /// Bits of a seq given to the row's index within its transaction.
    static let indexBits = 20
    /// Rows one transaction may insert (its indexes must not reach the next transaction's seqs).
    static let rowsPerTransaction = 1 << indexBits

    /// The transaction id (64-bit, with its epoch) of the migration that recorded the origin.
    var transaction: Int64
    /// The seq of a transaction whose id is `transaction`; every new seq lies above it.
    var seq: Int64

    /// SQL for the first seq of the transaction whose id (an `xid8`) is `transactionID`, from an
    /// origin given as SQL (`seq`, `transaction`).
    static func firstSeq(of transactionID: String, seq: String, transaction: String) -> String {
        "(\(seq) + ((\(transactionID)::text::bigint - \(transaction)) << \(indexBits)))"
    }

    /// SQL for the seq of the row whose index in the inserting transaction is `index`, from an
    /// origin given as SQL (`seq`, `transaction`).
    static func seqExpression(seq: String, transaction: String, index: String) -> String {
        firstSeq(of: "pg_current_xact_id()", seq: seq, transaction: transaction) + " + \(index)"
    }

    /// SQL for the lowest seq a transaction that is still running could write: readers that follow
    /// seq stop below it. It is the statement's own snapshot, so what lies below it is visible.
    var watermark: String {
        Self.firstSeq(of: "pg_snapshot_xmin(pg_current_snapshot())", seq: String(seq), transaction: String(transaction))
    }
}
