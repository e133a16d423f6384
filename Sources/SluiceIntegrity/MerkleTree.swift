import Crypto

/// A SHA-256 digest, 32 bytes.
public typealias MerkleHash = [UInt8]

/// The Merkle tree of RFC 6962 (Certificate Transparency, section 2.1; RFC 9162 section 2.1):
/// a leaf hashes as SHA-256(0x00 ‖ data), an inner node as SHA-256(0x01 ‖ left ‖ right), the
/// empty tree as SHA-256 of nothing, and a tree of n > 1 leaves splits at the largest power of
/// two below n. The two prefixes keep a leaf from ever passing for a node.
public enum MerkleTree {
    static let leafPrefix: [UInt8] = [0x00]
    static let nodePrefix: [UInt8] = [0x01]

    public static func leafHash(_ data: [UInt8]) -> MerkleHash {
        var hasher = SHA256()
        hasher.update(data: leafPrefix)
        hasher.update(data: data)
        return hasher.finalize().withUnsafeBytes { Array($0) }
    }

    public static func nodeHash(_ left: MerkleHash, _ right: MerkleHash) -> MerkleHash {
        var hasher = SHA256()
        hasher.update(data: nodePrefix)
        hasher.update(data: left)
        hasher.update(data: right)
        return hasher.finalize().withUnsafeBytes { Array($0) }
    }

    /// The root over `leaves` (leaf hashes, in order). Pairing level by level and carrying an odd
    /// last node up unchanged builds exactly RFC 6962's tree, without recursion.
    public static func root(_ leaves: [MerkleHash]) -> MerkleHash {
        guard !leaves.isEmpty else { return Array(SHA256.hash(data: [UInt8]())) }
        var level = leaves
        while level.count > 1 { level = parents(of: level) }
        return level[0]
    }

    /// ``root(_:)`` over leaf hashes held as digests: each level is hashed in place over one flat
    /// buffer, with no array per node (a checkpoint or a verification hashes one node per event).
    public static func root(ofLeaves leaves: [SHA256Digest]) -> MerkleHash {
        guard !leaves.isEmpty else { return Array(SHA256.hash(data: [UInt8]())) }
        var level = [UInt8](repeating: 0, count: leaves.count * 32)
        level.withUnsafeMutableBytes { buffer in
            for (i, leaf) in leaves.enumerated() {
                leaf.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[i * 32..<i * 32 + 32]).copyMemory(from: $0) }
            }
            var count = leaves.count
            while count > 1 {
                var next = 0
                var i = 0
                while i + 1 < count {
                    var hasher = SHA256()
                    hasher.update(data: nodePrefix)
                    hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[i * 32..<i * 32 + 64]))
                    // Node `next` is written over a pair already read (next ≤ i).
                    hasher.finalize().withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[next * 32..<next * 32 + 32]).copyMemory(from: $0) }
                    next += 1
                    i += 2
                }
                if i < count {
                    UnsafeMutableRawBufferPointer(rebasing: buffer[next * 32..<next * 32 + 32])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[i * 32..<i * 32 + 32]))
                    next += 1
                }
                count = next
            }
        }
        return Array(level[0..<32])
    }

    /// Builds a root leaf by leaf in O(log n) memory: the perfect subtrees so far, largest
    /// first (one per bit of the leaf count). RFC 6962's root is then those subtrees folded
    /// from the right, since its tree splits at the largest power of two below n. A checkpoint
    /// adds its leaves page by page, so the tree's hashing is spread over the pages instead of
    /// done in one long step at the end.
    public struct Builder: Sendable {
        private var subtrees: [(size: Int, hash: MerkleHash)] = []
        public private(set) var count = 0

        public init() {}

        public mutating func append(_ leaf: SHA256Digest) {
            var node = (size: 1, hash: leaf.withUnsafeBytes { Array($0) })
            while let last = subtrees.last, last.size == node.size {
                subtrees.removeLast()
                node = (last.size * 2, nodeHash(last.hash, node.hash))
            }
            subtrees.append(node)
            count += 1
        }

        public var root: MerkleHash {
            guard var root = subtrees.last?.hash else { return Array(SHA256.hash(data: [UInt8]())) }
            for subtree in subtrees.dropLast().reversed() { root = nodeHash(subtree.hash, root) }
            return root
        }
    }

    /// The level above `level`: each pair hashed into its parent, an odd last node carried up.
    static func parents(of level: [MerkleHash]) -> [MerkleHash] {
        var next: [MerkleHash] = []
        next.reserveCapacity((level.count + 1) / 2)
        var i = 0
        while i + 1 < level.count {
            next.append(nodeHash(level[i], level[i + 1]))
            i += 2
        }
        if i < level.count { next.append(level[i]) }
        return next
    }

    /// The inclusion proof (audit path) of leaf `index` in the tree over `leaves`: the sibling
    /// hashes from the leaf up to the root, as RFC 6962's PATH(m, D[n]) lists them.
    public static func inclusionProof(index: Int, _ leaves: [MerkleHash]) -> [MerkleHash] {
        precondition(leaves.indices.contains(index), "leaf \(index) is not in a tree of \(leaves.count)")
        var proof: [MerkleHash] = []
        var level = leaves
        var position = index
        while level.count > 1 {
            let sibling = position ^ 1
            // A last node without a sibling is carried up: nothing to add at this level.
            if sibling < level.count { proof.append(level[sibling]) }
            level = parents(of: level)
            position /= 2
        }
        return proof
    }

    /// Whether `proof` shows `leaf` at `index` in a tree of `size` leaves with `root` (RFC 9162,
    /// section 2.1.3.2). A proof of the wrong length, or an index outside the tree, never passes.
    public static func verifyInclusion(leaf: MerkleHash, index: Int, size: Int, proof: [MerkleHash], root: MerkleHash) -> Bool {
        guard index >= 0, index < size else { return false }
        var fn = index
        var sn = size - 1
        var hash = leaf
        for sibling in proof {
            if sn == 0 { return false }
            if fn & 1 == 1 || fn == sn {
                hash = nodeHash(sibling, hash)
                if fn & 1 == 0 {
                    // Right edge: climb until this node is a right child.
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                hash = nodeHash(hash, sibling)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && hash == root
    }
}
