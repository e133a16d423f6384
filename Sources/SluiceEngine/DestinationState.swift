import CoreMetrics
import SluiceCore
import Synchronization

/// The live state of one destination's delivery, shared by its loop (writer) and the admin API
/// (reader); mirrored into metrics.
final class DestinationState: Sendable {
    struct Snapshot: Sendable {
        var lastSuccess: Timestamp?
        var lastError: String?
        var lastErrorAt: Timestamp?
        var pausedReason: String?
        /// An operator's pause (``DestinationHold``), shown before any other reason.
        var heldReason: String?
        var delivered = 0
        var retried = 0
        var deadLettered = 0
    }

    let name: String
    private let state = Mutex(Snapshot())
    private let lags = Mutex(MinuteMaxima())
    private let deliveredCounter: Counter
    private let deadLetteredCounter: Counter
    private let retriedCounter: Counter
    private let pausedGauge: Gauge
    private let lagGauge: Gauge

    init(name: String) {
        self.name = name
        deliveredCounter = Counter(label: "sluice_destination_events_total", dimensions: [("destination", name), ("outcome", "delivered")])
        deadLetteredCounter = Counter(label: "sluice_destination_events_total", dimensions: [("destination", name), ("outcome", "dead_lettered")])
        retriedCounter = Counter(label: "sluice_destination_retries_total", dimensions: [("destination", name)])
        pausedGauge = Gauge(label: "sluice_destination_paused", dimensions: [("destination", name)])
        lagGauge = Gauge(label: "sluice_destination_lag_seconds", dimensions: [("destination", name)])
        pausedGauge.record(0)
    }

    var snapshot: Snapshot { state.withLock { $0 } }

    func delivered(_ count: Int, at time: Timestamp) {
        let wasPaused = state.withLock { s in
            s.delivered += count
            s.lastSuccess = time
            defer { s.pausedReason = nil }
            return s.pausedReason != nil
        }
        if wasPaused { pausedGauge.record(0) }
        deliveredCounter.increment(by: count)
    }

    func held(_ reason: String?) {
        let changed = state.withLock { s in
            defer { s.heldReason = reason }
            return s.heldReason != reason
        }
        if changed { pausedGauge.record(reason == nil ? 0 : 1) }
    }

    func failed(_ reason: String, at time: Timestamp) {
        state.withLock { s in
            s.retried += 1
            s.lastError = reason
            s.lastErrorAt = time
        }
        retriedCounter.increment()
    }

    func paused(_ reason: String, at time: Timestamp) {
        state.withLock { s in
            s.retried += 1
            s.pausedReason = reason
            s.lastError = reason
            s.lastErrorAt = time
        }
        retriedCounter.increment()
        pausedGauge.record(1)
    }

    func deadLettered(_ count: Int) {
        guard count > 0 else { return }
        state.withLock { $0.deadLettered += count }
        deadLetteredCounter.increment(by: count)
    }

    func lag(seconds: Double, at time: Timestamp) {
        lagGauge.record(seconds)
        lags.withLock { $0.record(seconds, at: time) }
    }

    /// The largest lag of each of the last 60 minutes, for the destinations page.
    func lagLastHour(endingAt now: Timestamp) -> [Double?] { lags.withLock { $0.lastHour(endingAt: now) } }
}
