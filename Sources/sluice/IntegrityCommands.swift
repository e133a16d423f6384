import ArgumentParser
import Foundation
import SluiceApp
import SluiceCore
import SluiceIntegrity
import SluiceServer

/// `sluice verify`: recomputes every stored event's leaf and every checkpoint's tree, checks the
/// signatures and the chain, and names what is wrong by seq and id. Exit 0 only when all is intact.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Prove that no stored event was changed, removed or slipped in since its integrity checkpoint.",
        discussion: """
        Trusted keys: the instance's own key (integrity.key by reference, integrity.key_file, or integrity.key beside the \
        database), integrity.trusted_keys, and every --public-key given (base64, as `sluice integrity public-key` prints it; \
        for checkpoints signed before a key rotation).
        Events committed after the last checkpoint are not covered yet: verify fails on them unless --allow-pending.
        """
    )

    @OptionGroup var options: StoreOptions

    @Option(name: .long, help: "Another trusted public key (base64 of the 32-byte Ed25519 key); repeatable.")
    var publicKey: [String] = []

    @Flag(name: .long, help: "Events newer than the last checkpoint (a running instance's latest) do not fail verification.")
    var allowPending = false

    @Flag(name: .long, help: "Print the report as one JSON object.")
    var json = false

    @Option(name: .long, help: "Only the checkpoints written at or after this time (RFC 3339 or YYYY-MM-DD), and the events they cover.")
    var since: String?

    @Option(name: .long, help: "Only the checkpoints written before this time.")
    var until: String?

    @Option(name: .customLong("first-seq"), help: "Only the checkpoints covering seqs from this one on, and the events they cover.")
    var firstSeq: Int64?

    @Option(name: .customLong("last-seq"), help: "Only the checkpoints covering seqs up to this one.")
    var lastSeq: Int64?

    /// What to verify, from the range options; exits 2 naming a bad one.
    func scope() throws -> IntegrityVerifier.Scope {
        if since != nil || until != nil {
            guard firstSeq == nil && lastSeq == nil else {
                printError("give a time range (--since/--until) or a seq range (--first-seq/--last-seq), not both")
                throw ExitCode(2)
            }
            let from = try timeOption("since", since) ?? Timestamp(microseconds: .min)
            let to = try timeOption("until", until) ?? Timestamp(microseconds: .max)
            guard from < to else {
                printError("--since must be before --until")
                throw ExitCode(2)
            }
            return .written(from...Timestamp(microseconds: to.microseconds - 1))
        }
        if firstSeq != nil || lastSeq != nil {
            let from = firstSeq ?? 1
            let to = lastSeq ?? .max
            guard from >= 1, from <= to else {
                printError("--first-seq must be at least 1 and not after --last-seq")
                throw ExitCode(2)
            }
            return .seqs(from...to)
        }
        return .all
    }

    func run() async throws {
        let scope = try scope()
        let (store, config) = try await StorageCommand.open(options, label: "sluice.verify")
        var keys: [IntegrityPublicKey] = []
        for text in publicKey {
            guard let key = IntegrityPublicKey(base64: text) else {
                printError("--public-key \(text) is not a base64 Ed25519 public key (32 bytes)")
                throw ExitCode(2)
            }
            keys.append(key)
        }
        let path = config.integrity.keyPath(storage: config.storage)
        do {
            keys += config.integrityTrustedKeys(own: try config.integritySigningKey(create: false)?.key.publicKey)
        } catch {
            printError(error.message)
            throw ExitCode(1)
        }
        guard !keys.isEmpty else {
            printError("no trusted key: \(path) does not exist; pass the instance's key with --public-key")
            throw ExitCode(2)
        }
        let report: IntegrityReport
        do {
            report = try await IntegrityVerifier(store: store, keys: keys).verify(scope)
        } catch {
            throw error.exit()
        }
        let pendingFails = !allowPending && report.pending.count > 0
        if json {
            var out: [UInt8] = []
            report.json.write(into: &out, sortedKeys: false)
            print(String(decoding: out, as: UTF8.self))
        } else {
            for problem in report.problems { print("FAIL \(problem)") }
            if report.pending.count > 0 {
                print("\(pendingFails ? "FAIL" : "note") events \(report.pending) (\(report.pending.count)) are newer than the last checkpoint: the next checkpoint covers them")
            }
            let through = report.verifiedThrough.map { " through seq \($0.lastSeq) (checkpoint seq \($0.checkpointSeq) at \($0.time.rfc3339))" } ?? ""
            print("\(report.isIntact && !pendingFails ? "intact" : "NOT intact"): \(report.checkpoints) checkpoints, \(report.verifiedEvents) events verified\(through)")
        }
        if !report.isIntact || pendingFails { throw ExitCode(1) }
    }
}

/// `sluice integrity public-key`: the key a verifier trusts, for auditors and `--public-key`.
struct IntegrityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "integrity",
        abstract: "The key that signs integrity checkpoints.",
        subcommands: [PublicKey.self]
    )

    struct PublicKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "public-key", abstract: "Print the public key that verifies this instance's checkpoints (base64), and its id."
        )

        @OptionGroup var options: StoreOptions

        func run() async throws {
            let config = try options.loadConfig()
            do {
                guard let key = try config.integritySigningKey(create: false)?.key.publicKey else {
                    printError("no integrity key at \(config.integrity.keyPath(storage: config.storage)): start Sluice once to make it, or set integrity.key_file or integrity.key")
                    throw ExitCode(1)
                }
                print("\(key.base64)  key_id=\(key.id)")
            } catch let error as IntegrityKeyError {
                printError(error.message)
                throw ExitCode(1)
            }
        }
    }
}
