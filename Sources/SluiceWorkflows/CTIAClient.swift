import SluiceCore
import SluiceHTTP

/// The two CTIA calls an incident needs: the lookup by external id and the create.
struct CTIAClient: Sendable {
    let http: WorkflowHTTP
    let baseURL: String

    /// The id of the incident already carrying `externalID`, if any
    /// (`GET /ctia/incident/external_id/{id}` answers a list; 404 means none).
    func find(externalID: String, tokens: AccessTokenCache?, attempts: inout Int) async throws(StepFailure) -> String? {
        let url = trimmedBase + "/ctia/incident/external_id/" + HTTPTransport.percentEncoded(externalID)
        let (response, tries): (OutboundResponse, Int)
        do {
            (response, tries) = try await http.send(
                OutboundRequest(method: "GET", url: url, headers: [("Accept", "application/json")]), tokens: tokens, accept: { $0 == 404 }
            )
        } catch {
            throw StepFailure("looking up incident \(externalID): \(error.message)", retryable: error.retryable, attempts: attempts + error.attempts)
        }
        attempts += tries
        if response.status == 404 { return nil }
        guard let listed = try? JSONParser.parse(response.body) else {
            throw StepFailure("CTIA's answer to the incident lookup is not JSON", retryable: true, attempts: attempts)
        }
        let items = listed.arrayValue ?? (listed.objectMembers != nil ? [listed] : [])
        return items.lazy.compactMap { $0["id"]?.stringValue }.first
    }

    /// Creates the incident (`POST /ctia/incident`, 201 with the stored entity) and returns its id.
    func create(_ body: JSONValue, tokens: AccessTokenCache?, attempts: inout Int) async throws(StepFailure) -> String {
        let url = trimmedBase + "/ctia/incident"
        let (response, tries): (OutboundResponse, Int)
        do {
            (response, tries) = try await http.send(
                OutboundRequest(method: "POST", url: url, headers: [("Content-Type", "application/json"), ("Accept", "application/json")], body: body.serialized()),
                tokens: tokens
            )
        } catch {
            throw StepFailure("creating the incident: \(error.message)", retryable: error.retryable, attempts: attempts + error.attempts)
        }
        attempts += tries
        guard let stored = try? JSONParser.parse(response.body), let id = stored["id"]?.stringValue, !id.isEmpty else {
            // Created, but without an id we can record: the next attempt's lookup finds it.
            throw StepFailure("CTIA answered HTTP \(response.status) to the create without an incident id", retryable: true, attempts: attempts)
        }
        return id
    }

    var trimmedBase: String {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        return base
    }
}
