import Crypto
import SluiceCore
import SluiceIntegrity
import Testing

/// RFC 6962's tree, checked against the test vectors Certificate Transparency publishes (the
/// eight leaves of its reference implementation's tests, roots for every prefix).
@Suite struct MerkleTreeTests {
    static let leaves: [[UInt8]] = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
        .map { [UInt8](hex: $0)! }
    static let roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]

    @Test func rootsMatchTheReferenceVectors() {
        #expect(MerkleTree.root([]).hexString == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let hashes = Self.leaves.map(MerkleTree.leafHash)
        for size in 1...8 {
            #expect(MerkleTree.root(Array(hashes.prefix(size))).hexString == Self.roots[size - 1], "tree of \(size)")
        }
        // The in-place root over digests, which checkpoints and verification use, agrees.
        #expect(MerkleTree.root(ofLeaves: []).hexString == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let digests = Self.leaves.map { SHA256.hash(data: [0x00] + $0) }
        for size in 1...8 {
            #expect(MerkleTree.root(ofLeaves: Array(digests.prefix(size))).hexString == Self.roots[size - 1], "tree of \(size)")
        }
        let many = (0..<1_000).map { SHA256.hash(data: [UInt8]("leaf \($0)".utf8)) }
        for size in [9, 31, 64, 65, 999, 1_000] {
            #expect(MerkleTree.root(ofLeaves: Array(many.prefix(size))) == MerkleTree.root(many.prefix(size).map { Array($0) }), "tree of \(size)")
        }
        // And so does the builder that checkpoints add their leaves to, at every size.
        var builder = MerkleTree.Builder()
        #expect(builder.root == MerkleTree.root([]))
        for (i, leaf) in many.prefix(300).enumerated() {
            builder.append(leaf)
            #expect(builder.root == MerkleTree.root(many.prefix(i + 1).map { Array($0) }), "tree of \(i + 1)")
        }
        for size in 1...8 {
            var small = MerkleTree.Builder()
            for leaf in digests.prefix(size) { small.append(leaf) }
            #expect(small.root.hexString == Self.roots[size - 1], "tree of \(size)")
        }
    }

    /// Every leaf of every tree up to 40 leaves proves its inclusion, and nothing else does: not
    /// another leaf, not another index, not a proof for a tree of another size, not a damaged proof.
    @Test func inclusionProofsProveExactlyTheirLeaf() {
        let all = (0..<40).map { MerkleTree.leafHash([UInt8]("leaf \($0)".utf8)) }
        for size in 1...40 {
            let leaves = Array(all.prefix(size))
            let root = MerkleTree.root(leaves)
            for index in 0..<size {
                let proof = MerkleTree.inclusionProof(index: index, leaves)
                #expect(MerkleTree.verifyInclusion(leaf: leaves[index], index: index, size: size, proof: proof, root: root))
                let other = leaves[(index + 1) % size]
                if size > 1 {
                    #expect(!MerkleTree.verifyInclusion(leaf: other, index: index, size: size, proof: proof, root: root))
                    #expect(!MerkleTree.verifyInclusion(leaf: leaves[index], index: (index + 1) % size, size: size, proof: proof, root: root))
                }
                // Not a proof in the tree one leaf larger (its root covers a leaf this path never saw).
                if size < all.count {
                    let larger = MerkleTree.root(Array(all.prefix(size + 1)))
                    #expect(!MerkleTree.verifyInclusion(leaf: leaves[index], index: index, size: size + 1, proof: proof, root: larger))
                }
                if var damaged = proof.first {
                    damaged[0] ^= 1
                    #expect(!MerkleTree.verifyInclusion(leaf: leaves[index], index: index, size: size, proof: [damaged] + proof.dropFirst(), root: root))
                }
            }
        }
        #expect(!MerkleTree.verifyInclusion(leaf: all[0], index: 0, size: 0, proof: [], root: MerkleTree.root([])))
    }

    /// A leaf is never taken for a node: the same 64 bytes hash differently as one or the other.
    @Test func leavesAndNodesAreHashedApart() {
        let a = MerkleTree.leafHash([1])
        let b = MerkleTree.leafHash([2])
        #expect(MerkleTree.nodeHash(a, b) != MerkleTree.leafHash(a + b))
    }
}

@Suite struct SeqRangesTests {
    @Test func runsAreWrittenAndReadBack() throws {
        let ranges = SeqRanges([1, 2, 3, 5, 7, 8, 9, 10])
        #expect(ranges.description == "1-3,5,7-10")
        #expect(ranges.count == 8)
        #expect(ranges.first == 1 && ranges.last == 10)
        #expect(try #require(SeqRanges(parsing: ranges.description)) == ranges)
        #expect([1, 3, 5, 7, 10].allSatisfy(ranges.contains))
        #expect(![0, 4, 6, 11].contains(where: ranges.contains))
        #expect(SeqRanges(parsing: "")?.count == 0)
    }

    @Test func onlyTheCanonicalFormIsRead() {
        for bad in ["3-1", "1-3,2-5", "1-3,4", "0-2", "a", "1,,2", "-1", "1-2-3"] {
            #expect(SeqRanges(parsing: bad) == nil, "\(bad)")
        }
    }
}
