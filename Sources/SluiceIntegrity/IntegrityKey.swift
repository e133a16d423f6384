import Crypto
import Foundation

/// Why an integrity key could not be used; each message says what to fix.
public struct IntegrityKeyError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The Ed25519 key that signs checkpoints, and its public half. Its id (the first 8 bytes of
/// SHA-256 over the raw 32-byte public key, in hex) is written into every checkpoint, so that
/// checkpoints signed before a key rotation stay verifiable with the key they name.
public struct IntegrityKey: Sendable {
    public let privateKey: Curve25519.Signing.PrivateKey

    public init(_ privateKey: Curve25519.Signing.PrivateKey = .init()) {
        self.privateKey = privateKey
    }

    public var publicKey: IntegrityPublicKey { IntegrityPublicKey(privateKey.publicKey) }

    public func sign(_ message: [UInt8]) throws -> [UInt8] {
        Array(try privateKey.signature(for: message))
    }

    static let fileHeader = "sluice-integrity-key ed25519 v1"

    /// The key file's text: a header line and the raw 32-byte private key in base64.
    public var fileText: String {
        "\(Self.fileHeader)\n\(privateKey.rawRepresentation.base64EncodedString())\n"
    }

    /// Reads the key at `path`, refusing a file that anyone but its owner can read or write.
    public static func load(path: String) throws(IntegrityKeyError) -> IntegrityKey {
        let attributes: [FileAttributeKey: Any]
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: path)
        } catch {
            throw IntegrityKeyError("cannot read the integrity key \(path): \(error.localizedDescription)")
        }
        let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0
        guard mode & 0o077 == 0 else {
            throw IntegrityKeyError(
                "the integrity key \(path) has mode \(String(mode, radix: 8)); anyone who can read it can sign checkpoints: chmod 600 \(path)"
            )
        }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw IntegrityKeyError("cannot read the integrity key \(path)")
        }
        return try parse(text, source: path)
    }

    /// Reads a key from its file text, or from a secret reference's value: the file's text, or its
    /// base64 line alone. The error names `source`, never the text.
    public static func parse(_ text: String, source: String) throws(IntegrityKeyError) -> IntegrityKey {
        var lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        if lines.count == 1 { lines.insert(fileHeader, at: 0) }
        guard lines.count == 2, lines[0] == fileHeader, let raw = Data(base64Encoded: lines[1]), raw.count == 32,
              let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw) else {
            throw IntegrityKeyError("\(source) is not an integrity key (expected the line \"\(fileHeader)\" and a base64 Ed25519 private key)")
        }
        return IntegrityKey(key)
    }

    /// The key at `path`, made there (mode 0600) when there is none yet; `created` says which.
    public static func loadOrCreate(path: String) throws(IntegrityKeyError) -> (key: IntegrityKey, created: Bool) {
        if FileManager.default.fileExists(atPath: path) { return (try load(path: path), false) }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw IntegrityKeyError("cannot create the directory of the integrity key \(path): \(error.localizedDescription)")
        }
        let key = IntegrityKey()
        try key.save(path: path)
        return (key, true)
    }

    /// Writes the key to a new file at `path` with mode 0600 (never over an existing file).
    public func save(path: String) throws(IntegrityKeyError) {
        // O_EXCL: an existing key is never overwritten (its checkpoints would lose their signer).
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else {
            throw IntegrityKeyError("cannot create the integrity key \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        let bytes = Array(fileText.utf8)
        guard write(descriptor, bytes, bytes.count) == bytes.count, fsync(descriptor) == 0 else {
            throw IntegrityKeyError("cannot write the integrity key \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// The public half of an integrity key: what a verifier needs.
public struct IntegrityPublicKey: Sendable, Hashable {
    public let key: Curve25519.Signing.PublicKey

    public init(_ key: Curve25519.Signing.PublicKey) {
        self.key = key
    }

    /// From the raw 32 bytes in base64 (``base64``).
    public init?(base64: String) {
        guard let raw = Data(base64Encoded: base64), let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else { return nil }
        self.key = key
    }

    /// The raw 32-byte key in base64, as `GET /v1/integrity/public-key` shows it.
    public var base64: String { key.rawRepresentation.base64EncodedString() }

    /// The first 8 bytes of SHA-256 over the raw key, in hex.
    public var id: String { Array(SHA256.hash(data: key.rawRepresentation).prefix(8)).map { String(format: "%02x", $0) }.joined() }

    public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        key.isValidSignature(signature, for: message)
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.key.rawRepresentation == rhs.key.rawRepresentation }
    public func hash(into hasher: inout Hasher) { hasher.combine(key.rawRepresentation) }
}
