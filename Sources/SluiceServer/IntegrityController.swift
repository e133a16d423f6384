import Foundation
import Hummingbird
import SluiceCore
import SluiceIntegrity

/// `GET /v1/integrity/public-key`, `/checkpoints` and `/verify`: the key that signs this
/// instance's checkpoints, the checkpoints newest first, and a verification of the whole store
/// against the key (docs/integrity.md). 404 while integrity is off.
struct IntegrityController: Sendable {
    let store: any EventStore
    let verification: IntegrityVerification
    var key: IntegrityPublicKey? { verification.key }

    func addRoutes(to group: RouterGroup<SluiceRequestContext>) {
        group.get("integrity/public-key", use: publicKey)
        group.get("integrity/checkpoints", use: checkpoints)
        group.get("integrity/verify", use: verify)
    }

    static let off = APIError(.notFound, "integrity is off on this instance (integrity.enabled: false)")

    func requireKey() throws(APIError) -> IntegrityPublicKey {
        guard let key else { throw Self.off }
        return key
    }

    @Sendable func publicKey(request: Request, context: SluiceRequestContext) async throws -> Response {
        let key = try requireKey()
        return Response.json(.object([
            JSONMember("algorithm", .string("ed25519")), JSONMember("key_id", .string(key.id)), JSONMember("public_key", .string(key.base64)),
        ]))
    }

    @Sendable func checkpoints(request: Request, context: SluiceRequestContext) async throws -> Response {
        _ = try requireKey()
        let limit = try EventFilterParser.limit(request.uri.queryParameters, default: 100, max: 1000)
        let filter = EventFilter(source: AdminAuditEntry.source, logType: IntegrityCheckpoint.logType)
        let page = try await storeCall { try await store.events(matching: filter, after: nil, limit: limit) }
        return Response.json(.object([
            JSONMember("checkpoints", .array(page.events.map { event in
                guard let checkpoint = IntegrityCheckpoint(event: event) else {
                    return .object([JSONMember("seq", .number(String(event.seq))), JSONMember("id", .string(event.id.rawValue)), JSONMember("damaged", .bool(true))])
                }
                return .object([
                    JSONMember("seq", .number(String(event.seq))), JSONMember("id", .string(event.id.rawValue)),
                    JSONMember("key_id", .string(checkpoint.keyID)), JSONMember("seqs", .string(checkpoint.seqs.description)),
                    JSONMember("count", .number(String(checkpoint.seqs.count))), JSONMember("root", .string(checkpoint.root.hexString)),
                    JSONMember("fingerprints", .string(checkpoint.fingerprints.hexString)),
                    JSONMember("previous", .string(checkpoint.previous.hexString)), JSONMember("time", .string(checkpoint.time.rfc3339)),
                    JSONMember("statement", .string(checkpoint.statement)),
                    JSONMember("signature", .string(Data(checkpoint.signature).base64EncodedString())),
                ])
            })),
        ]))
    }

    @Sendable func verify(request: Request, context: SluiceRequestContext) async throws -> Response {
        let query = request.uri.queryParameters
        var scope = IntegrityVerifier.Scope.all
        if query["since"] != nil || query["until"] != nil {
            let since = try EventFilterParser.time(query, "since") ?? Timestamp(microseconds: .min)
            let until = try EventFilterParser.time(query, "until") ?? Timestamp(microseconds: .max)
            guard since < until else { throw APIError(.badRequest, "since must be before until") }
            scope = .written(since...Timestamp(microseconds: until.microseconds - 1))
        }
        guard let report = try await verification.verify(scope) else { throw Self.off }
        return Response.json(report.json)
    }
}

extension IntegrityReport {
    /// The report as `GET /v1/integrity/verify` and `sluice verify --json` give it.
    public var json: JSONValue {
        .object([
            JSONMember("intact", .bool(isIntact)),
            JSONMember("checkpoints", .number(String(checkpoints))),
            JSONMember("verified_events", .number(String(verifiedEvents))),
            JSONMember("verified_through", verifiedThrough.map { through in
                .object([
                    JSONMember("checkpoint_seq", .number(String(through.checkpointSeq))), JSONMember("last_seq", .number(String(through.lastSeq))),
                    JSONMember("time", .string(through.time.rfc3339)),
                ])
            } ?? .null),
            JSONMember("pending", .object([JSONMember("count", .number(String(pending.count))), JSONMember("seqs", .string(pending.description))])),
            JSONMember("problems", .array(problems.map { .string($0.description) })),
        ])
    }
}
