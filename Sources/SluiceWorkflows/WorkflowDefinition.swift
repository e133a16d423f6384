import SluiceCore
import SluiceHTTP

/// A workflow as configured: what triggers it, how an alert is told apart from another, and
/// its steps.
public struct WorkflowDefinition: Sendable {
    public var name: String
    public var trigger: WorkflowTrigger
    /// Where the alert's own key is; nil for the SHA-256 of the alert's raw bytes.
    public var alertKey: JSONPath?
    public var steps: [WorkflowStep]
    public var settings: WorkflowSettings

    public init(name: String, trigger: WorkflowTrigger, alertKey: JSONPath?, steps: [WorkflowStep], settings: WorkflowSettings) {
        self.name = name
        self.trigger = trigger
        self.alertKey = alertKey
        self.steps = steps
        self.settings = settings
    }

    /// The cursor name the workflow keeps in the store.
    public var consumer: String { "workflow:\(name)" }
}

/// Which stored events start a run: from one of `feeds` (a feed or collector name), of one of
/// `logTypes`, and meeting `condition`; an empty list does not restrict.
public struct WorkflowTrigger: Sendable {
    public var feeds: [String]
    public var logTypes: [String]
    public var condition: WorkflowCondition?

    public init(feeds: [String], logTypes: [String], condition: WorkflowCondition?) {
        self.feeds = feeds
        self.logTypes = logTypes
        self.condition = condition
    }

    /// Whether the event's source and log type qualify (the condition needs the parsed body).
    public func admits(source: String, logType: String) -> Bool {
        (feeds.isEmpty || feeds.contains(source)) && (logTypes.isEmpty || logTypes.contains(logType))
            && (source != AdminAuditEntry.source || feeds.contains(source))
    }
}

/// How hard a workflow tries.
public struct WorkflowSettings: Sendable {
    /// Attempts of one HTTP request within a step (429, 5xx and transport failures retry).
    public var requestAttempts = 4
    public var requestBackoff = Backoff(base: .seconds(1), cap: .seconds(30))
    /// Attempts of a run before it waits for an operator.
    public var runAttempts = 5
    public var runBackoff = Backoff(base: .seconds(30), cap: .seconds(1800))
    public var timeout: Duration = .seconds(30)
    public var allowPrivateNetworks = false
    /// Most items a `for_each` takes from one alert (the rest are reported, not run).
    public var maxItems = 100
    /// Whether a new workflow starts with the events already stored (false: only new ones).
    public var fromBeginning = false

    public init() {}
}

/// One step: its id (unique in the workflow; later steps read its output under that name) and what it does.
public struct WorkflowStep: Sendable {
    public var id: String
    public var action: Action

    public enum Action: Sendable {
        /// Named values out of the alert; they become names of their own in the run's scope.
        case extract([ExtractedValue])
        /// Ends the run as skipped, with `reason`, when the condition is false.
        case condition(WorkflowCondition, reason: String?)
        /// Named texts or structures rendered from templates; they become names of their own.
        case format([(name: String, value: TemplateValue)])
        case oauthToken(OAuthTokenStep)
        case httpRequest(HTTPRequestStep)
        case createCTIAIncident(CTIAIncidentStep)
        case forEach(ForEachStep)
    }

    public init(id: String, action: Action) {
        self.id = id
        self.action = action
    }

    public var kind: String {
        switch action {
        case .extract: "extract"
        case .condition: "condition"
        case .format: "format"
        case .oauthToken: "oauth_token"
        case .httpRequest: "http_request"
        case .createCTIAIncident: "create_ctia_incident"
        case .forEach: "for_each"
        }
    }
}

public struct ExtractedValue: Sendable {
    public enum Shape: String, Sendable { case any, string, list, object }

    public var name: String
    public var path: JSONPath
    public var required: Bool
    public var shape: Shape
    public var defaultValue: JSONValue?

    public init(name: String, path: JSONPath, required: Bool, shape: Shape, defaultValue: JSONValue?) {
        self.name = name
        self.path = path
        self.required = required
        self.shape = shape
        self.defaultValue = defaultValue
    }
}

/// OAuth 2.0 client credentials; the token is cached per (URL, client) until shortly before it expires.
public struct OAuthTokenStep: Sendable {
    public var grant: ClientCredentialsGrant

    public init(grant: ClientCredentialsGrant) {
        self.grant = grant
    }
}

public struct HTTPRequestStep: Sendable {
    public var method: String
    public var url: Template
    public var headers: [(name: String, value: Template)]
    /// The id of the `oauth_token` step whose token goes in `Authorization: Bearer`.
    public var token: String?
    public var body: TemplateValue?
    /// Statuses that count as success (any 2xx when empty).
    public var expect: [Int]

    public init(method: String, url: Template, headers: [(name: String, value: Template)], token: String?, body: TemplateValue?, expect: [Int]) {
        self.method = method
        self.url = url
        self.headers = headers
        self.token = token
        self.body = body
        self.expect = expect
    }
}

/// Creates a CTIA incident once per alert (per item inside a `for_each`): the external id goes
/// in `external_ids` and is looked up before creating.
public struct CTIAIncidentStep: Sendable {
    /// `https://private.intel.amp.cisco.com` (or the EU/APJC host).
    public var baseURL: String
    public var token: String
    /// The incident's fields; `incident_time.opened` defaults to when the alert occurred.
    public var incident: TemplateValue
    /// The external id; nil for `sluice-<workflow>-<hash of the alert key>`.
    public var externalID: Template?

    public init(baseURL: String, token: String, incident: TemplateValue, externalID: Template?) {
        self.baseURL = baseURL
        self.token = token
        self.incident = incident
        self.externalID = externalID
    }
}

/// Runs `steps` once per item of a list; inside, the item is named `as` and its index `<as>_index`.
public struct ForEachStep: Sendable {
    public var items: Template
    public var name: String
    /// An item's key among the alert's items (for its incident's external id); nil for the
    /// SHA-256 of the item's JSON.
    public var itemKey: Template?
    public var steps: [WorkflowStep]

    public init(items: Template, name: String, itemKey: Template?, steps: [WorkflowStep]) {
        self.items = items
        self.name = name
        self.itemKey = itemKey
        self.steps = steps
    }
}

/// Why a workflow definition cannot be used; says what to write instead.
public struct WorkflowDefinitionError: Error, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
