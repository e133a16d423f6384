/// Where issued credentials live (the event store, so changes and their audit entries commit together).
public protocol CredentialStore: Sendable {
    func managedCredentials(kind: ManagedCredential.Kind?, name: String?) async throws(StoreError) -> [ManagedCredential]

    func issueCredential(
        _ new: NewManagedCredential, at time: Timestamp, retireOthersAt: Timestamp?, refuseIfActive: Bool,
        audit: (@Sendable (ManagedCredential, [ManagedCredential]) -> AdminAuditEntry)?
    ) async throws(StoreError) -> (credential: ManagedCredential, retired: [ManagedCredential])

    func revokeCredentials(
        kind: ManagedCredential.Kind, name: String, id: Int64?, at time: Timestamp, by actor: String, keepOneWithRole: String?,
        audit: (@Sendable ([ManagedCredential]) -> AdminAuditEntry)?
    ) async throws(StoreError) -> [ManagedCredential]
}
