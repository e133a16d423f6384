import Foundation
import SluiceCore
import SluiceIntegrity
import Testing

@Suite struct IntegrityCheckpointTests {
    static func chain(_ count: Int, key: IntegrityKey) throws -> [IntegrityCheckpoint] {
        var out: [IntegrityCheckpoint] = []
        var previous = IntegrityCheckpoint.origin
        for n in 0..<count {
            let seqs = SeqRanges(Int64(n * 10 + 1)...Int64(n * 10 + 10))
            let root = MerkleTree.root(seqs.ranges.flatMap { $0 }.map { MerkleTree.leafHash(Array("event \($0)".utf8)) })
            let checkpoint = try IntegrityCheckpoint.sign(
                seqs: seqs, root: root, fingerprints: Array(repeating: UInt8(n), count: 32), previous: previous,
                time: Timestamp(microseconds: Int64(n) * 60_000_000), key: key
            )
            out.append(checkpoint)
            previous = checkpoint.hash
        }
        return out
    }

    @Test func aChainOfSignedCheckpointsVerifies() throws {
        let key = IntegrityKey()
        let checkpoints = try Self.chain(4, key: key)
        #expect(checkpoints.problems(keys: [key.publicKey]).isEmpty)
        // What is stored (statement and signature) reads back as the same checkpoint.
        for checkpoint in checkpoints {
            #expect(IntegrityCheckpoint(statement: checkpoint.statement, signature: checkpoint.signature) == checkpoint)
        }
        #expect(checkpoints[0].statement.hasPrefix("sluice integrity checkpoint v2\nkey \(key.publicKey.id)\nseqs 1-10\ncount 10\n"))
        #expect(checkpoints[1].statement.contains("\nfingerprints \(String(repeating: "01", count: 32))\nprevious "))
    }

    @Test func eachKindOfDamageIsNamedWhereItIs() throws {
        let key = IntegrityKey()
        let other = IntegrityKey()
        let checkpoints = try Self.chain(5, key: key)

        var removed = checkpoints
        removed.remove(at: 2)
        #expect(removed.problems(keys: [key.publicKey]) == [.brokenChain(index: 2)])

        var edited = checkpoints
        edited[1].root[0] ^= 1
        var list = checkpoints
        list[3].fingerprints[31] ^= 1
        // The fingerprint list's digest is signed like the rest.
        #expect(list.problems(keys: [key.publicKey]) == [.badSignature(index: 3, keyID: key.publicKey.id), .brokenChain(index: 4)])
        // Its signature no longer matches, and its hash (so the next link) changed.
        #expect(edited.problems(keys: [key.publicKey]) == [.badSignature(index: 1, keyID: key.publicKey.id), .brokenChain(index: 2)])

        var forged = checkpoints
        forged[3] = try IntegrityCheckpoint.sign(
            seqs: forged[3].seqs, root: forged[3].root, fingerprints: forged[3].fingerprints, previous: forged[3].previous, time: forged[3].time, key: other
        )
        #expect(forged.problems(keys: [key.publicKey]) == [.unknownKey(index: 3, keyID: other.publicKey.id), .brokenChain(index: 4)])
        // A rotation: checkpoints name their key, and verify with every key given.
        #expect(forged.problems(keys: [key.publicKey, other.publicKey]) == [.brokenChain(index: 4)])

        let swapped = [checkpoints[0], checkpoints[2], checkpoints[1]]
        #expect(swapped.problems(keys: [key.publicKey]) == [.brokenChain(index: 1), .brokenChain(index: 2), .overlapping(index: 2)])
    }

    @Test func aDamagedStatementIsNotReadAsACheckpoint() throws {
        let checkpoint = try Self.chain(1, key: IntegrityKey())[0]
        let statement = checkpoint.statement
        for damaged in [
            statement.replacingOccurrences(of: "count 10", with: "count 11"),
            statement.replacingOccurrences(of: "v2", with: "v1"),
            statement.replacingOccurrences(of: "fingerprints ", with: "fingerprint "),
            statement.replacingOccurrences(of: "root ", with: "root  "),
            String(statement.dropLast()),
            statement.uppercased(),
        ] {
            #expect(IntegrityCheckpoint(statement: damaged, signature: checkpoint.signature) == nil)
        }
        #expect(IntegrityCheckpoint(statement: statement, signature: Array(checkpoint.signature.dropLast())) == nil)
    }

    @Test func aKeyFileReadableByOthersIsRefused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-key-\(UInt64.random(in: 0...UInt64.max))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/integrity.key"
        let key = IntegrityKey()
        try key.save(path: path)
        #expect(try IntegrityKey.load(path: path).publicKey == key.publicKey)
        #expect(throws: IntegrityKeyError.self) { try key.save(path: path) }
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        let refusal = #expect(throws: IntegrityKeyError.self) { try IntegrityKey.load(path: path) }
        #expect(refusal?.message.contains("chmod 600") == true)
        #expect(throws: IntegrityKeyError.self) { try IntegrityKey.parse("not a key", source: "test") }
    }
}
