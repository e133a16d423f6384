import Hummingbird
import SluiceCore

/// The shared lease table and this instance's name in it.
public struct LeaseDirectory: Sendable {
    public var store: any LeaseStore
    public var holder: String

    public init(store: any LeaseStore, holder: String) {
        self.store = store
        self.holder = holder
    }
}

/// `GET /v1/leases`: which instance works which collector, destination and workflow (several
/// instances on PostgreSQL), and this instance's own holder name, so an operator can tell which
/// node to look at. On a single-instance store the list is empty.
struct LeasesController: Sendable {
    let leases: LeaseDirectory?
    let now: @Sendable () -> Timestamp

    func addRoutes(to group: RouterGroup<SluiceRequestContext>) {
        group.get("leases", use: list)
    }

    @Sendable func list(request: Request, context: SluiceRequestContext) async throws -> Response {
        guard let leases else {
            return Response.json(.object([JSONMember("instance", .null), JSONMember("leases", .array([]))]))
        }
        let all: [Lease]
        do {
            all = try await leases.store.leases()
        } catch {
            throw APIError.from(error)
        }
        let time = now()
        return Response.json(.object([
            JSONMember("instance", .string(leases.holder)),
            JSONMember("leases", .array(all.map { lease in
                .object([
                    JSONMember("name", .string(lease.name)),
                    JSONMember("holder", .string(lease.holder)),
                    JSONMember("token", .number(String(lease.token))),
                    JSONMember("held", .bool(lease.expiresAt > time)),
                    JSONMember("expires_at", .string(lease.expiresAt.rfc3339)),
                    JSONMember("mine", .bool(lease.holder == leases.holder && lease.expiresAt > time)),
                ])
            })),
        ]))
    }
}
