import SluiceCore
import SluiceHTTP
import SluiceWorkflows
import Yams

extension ConfigReader {
    static let workflowKeys: Set<String> = [
        "trigger", "alert_key", "steps", "from_beginning", "allow_private_networks", "timeout", "retry", "max_items",
    ]

    mutating func readWorkflows(_ node: Node) -> [WorkflowDefinition] {
        namedEntries(node, section: "workflows", kind: "workflow").compactMap { name, value, path in readWorkflow(name: name, value, path: path) }
    }

    mutating func readWorkflow(name: String, _ node: Node, path: String) -> WorkflowDefinition? {
        guard let entries = mapping(node, path, allowed: Self.workflowKeys) else { return nil }
        let fields = Dictionary(entries, uniquingKeysWith: { _, last in last })
        let errorsBefore = errors.count
        workflowNames = ["event", "alert"]
        tokenSteps = []
        var settings = WorkflowSettings()
        if let v = fields["from_beginning"], let b = bool(v, "\(path).from_beginning") { settings.fromBeginning = b }
        if let v = fields["allow_private_networks"], let b = bool(v, "\(path).allow_private_networks") { settings.allowPrivateNetworks = b }
        if let v = fields["timeout"], let d = duration(v, "\(path).timeout") { settings.timeout = d }
        if let v = fields["max_items"], let n = int(v, "\(path).max_items", range: 1...10_000) { settings.maxItems = n }
        if let v = fields["retry"], let retry = mapping(v, "\(path).retry", allowed: [
            "request_attempts", "request_backoff", "request_max_backoff", "run_attempts", "run_backoff", "run_max_backoff",
        ]) {
            for (key, value) in retry {
                let keyPath = "\(path).retry.\(key)"
                switch key {
                case "request_attempts": if let n = int(value, keyPath, range: 1...20) { settings.requestAttempts = n }
                case "request_backoff": if let d = duration(value, keyPath) { settings.requestBackoff.base = d }
                case "request_max_backoff": if let d = duration(value, keyPath) { settings.requestBackoff.cap = d }
                case "run_attempts": if let n = int(value, keyPath, range: 1...100) { settings.runAttempts = n }
                case "run_backoff": if let d = duration(value, keyPath) { settings.runBackoff.base = d }
                default: if let d = duration(value, keyPath) { settings.runBackoff.cap = d }
                }
            }
        }
        var trigger: WorkflowTrigger?
        if let v = fields["trigger"] {
            trigger = readTrigger(v, path: "\(path).trigger")
        } else {
            fail("\(path).trigger", "missing; say which events start a run, as in trigger: {feeds: [sci-alerts]}", node)
        }
        let alertKey = fields["alert_key"].flatMap { jsonPath($0, "\(path).alert_key") }
        var steps: [WorkflowStep] = []
        if let v = fields["steps"] {
            steps = readSteps(v, path: "\(path).steps")
        } else {
            fail("\(path).steps", "missing; list the steps, e.g. extract, oauth_token, create_ctia_incident", node)
        }
        guard errors.count == errorsBefore, let trigger else { return nil }
        return WorkflowDefinition(name: name, trigger: trigger, alertKey: alertKey, steps: steps, settings: settings)
    }

    mutating func checkWorkflowTriggers(_ config: SluiceConfig) {
        let sources = Set(config.feeds.map(\.name) + config.collectors.map(\.name) + [AdminAuditEntry.source])
        for workflow in config.workflows {
            for feed in workflow.trigger.feeds where !sources.contains(feed) {
                fail("workflows.\(workflow.name).trigger.feeds", "no feed or collector is named \"\(feed)\"; known: \(sources.sorted().joined(separator: ", "))")
            }
        }
    }
}
