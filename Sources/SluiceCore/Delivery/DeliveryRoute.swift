/// One entry of `routes`: events from these feeds or collectors, optionally only some log types
/// or actions, go to these destinations.
public struct DeliveryRoute: Sendable, Hashable {
    public var from: Set<String>
    public var to: [String]
    /// nil: every log type.
    public var logTypes: Set<String>?
    /// nil: every action.
    public var actions: Set<String>?

    public init(from: Set<String>, to: [String], logTypes: Set<String>? = nil, actions: Set<String>? = nil) {
        self.from = from
        self.to = to
        self.logTypes = logTypes
        self.actions = actions
    }

    public func matches(_ event: OutboundEvent) -> Bool {
        from.contains(event.source) && (logTypes?.contains(event.logType) ?? true) && (actions?.contains(event.action) ?? true)
    }
}

/// Every route that names one destination: an event goes there when any of them matches.
public struct RouteSelection: Sendable, Hashable {
    public var routes: [DeliveryRoute]

    public init(destination: String, routes: [DeliveryRoute]) {
        self.routes = routes.filter { $0.to.contains(destination) }
    }

    public func matches(_ event: OutboundEvent) -> Bool { routes.contains { $0.matches(event) } }
}
