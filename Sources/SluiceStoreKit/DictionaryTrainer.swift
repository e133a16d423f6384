import SluiceCompression
import SluiceCore
import Synchronization

/// When a stream's compression dictionary is (re)trained: a pure decision over what the stream
/// has stored since its current dictionary, in the manner of ``RetryPolicy``.
///
/// A stream gets a dictionary early (after `firstSamples` events), and a fresh one whenever the
/// ratio of its recent rows falls below `drift` times the ratio its dictionary had when adopted
/// (the stream's events changed): it then collects `retrainSamples` events and trains a
/// candidate, which replaces the current dictionary only when it compresses held-out recent
/// events at least `minimumGain` times smaller. Measured on file events (docs/storage.md,
/// "Dictionaries"): 1,000 samples already give a 16 KiB dictionary within 0–7% of what 8,000
/// samples and 64 KiB give, for an eighth of the training time and of the samples' memory.
public struct DictionaryPolicy: Sendable, Hashable {
    public var firstSamples = 1_000
    public var firstCapacity = 16 * 1024
    public var retrainSamples = 2_000
    public var retrainCapacity = 32 * 1024
    /// Rows between two looks at a stream's recent ratio.
    public var checkEvery = 10_000
    public var drift = 0.85
    public var minimumGain = 1.05
    /// Records larger than this are not kept as samples (one large event would crowd out many).
    public var largestSample = 64 * 1024
    /// Sample bytes kept per stream while it collects.
    public var sampleBudget = 8 << 20
    /// Rows to wait after a training that failed or was not adopted.
    public var backoff = 100_000

    public init() {}

    /// What a stream should do next.
    package enum Decision: Equatable, Sendable {
        /// Nothing: the current dictionary (or none, still collecting) stands.
        case keep
        /// Keep samples of the rows it writes, for the next training.
        case collect
        /// Train on the samples collected, with this capacity.
        case train(capacity: Int)
    }

    package func decide(_ s: DictionaryTrainer.StreamState) -> Decision {
        if s.training || s.rowsUntilRetry > 0 { return .keep }
        switch s.phase {
        case .first:
            return s.samples.count >= firstSamples ? .train(capacity: firstCapacity) : .collect
        case .steady:
            if s.collecting {
                return s.samples.count >= retrainSamples ? .train(capacity: retrainCapacity) : .collect
            }
            guard s.window.rows >= checkEvery, s.window.stored > 0, s.adoptedRatio > 0 else { return .keep }
            let recent = Double(s.window.plain) / Double(s.window.stored)
            return recent < drift * s.adoptedRatio ? .collect : .keep
        }
    }
}

/// Samples, ratios and training of every stream's dictionary. Appends offer their records and
/// report their sizes; when a stream's ``DictionaryPolicy`` calls for it, the next
/// ``trainPending(current:)`` trains a candidate and judges it against the current dictionary.
/// The store persists an adopted dictionary and only then makes it current (so no row ever names
/// a dictionary that is not stored).
package final class DictionaryTrainer: Sendable {
    package struct Window: Sendable, Hashable {
        package var rows = 0
        package var plain = 0
        package var stored = 0

        package init(rows: Int = 0, plain: Int = 0, stored: Int = 0) {
            self.rows = rows
            self.plain = plain
            self.stored = stored
        }
    }

    /// Where a stream is in its dictionaries' life.
    package enum Phase: Sendable, Hashable {
        /// No dictionary yet.
        case first
        /// Retrained only when its ratio drifts.
        case steady
    }

    package struct StreamState: Sendable {
        package var phase = Phase.first
        package var adoptedRatio = 0.0
        package var collecting = false
        package var training = false
        package var samples: [[UInt8]] = []
        package var sampleBytes = 0
        package var window = Window()
        package var rowsUntilRetry = 0

        package init() {}
    }

    /// A dictionary trained and judged better than the stream's current one.
    package struct Candidate: Sendable {
        package var stream: DictionaryStream
        package var bytes: [UInt8]
        package var level: Int32
        package var samples: Int
        /// Plain ÷ compressed over the held-out samples.
        package var ratio: Double
    }

    package let policy: DictionaryPolicy
    private let streams = Mutex<[DictionaryStream: StreamState]>([:])

    package init(policy: DictionaryPolicy = DictionaryPolicy()) {
        self.policy = policy
    }

    /// Whether `stream` wants samples now (checked once per append, before any record is offered).
    package func wantsSamples(_ stream: DictionaryStream) -> Bool {
        streams.withLock { streams in
            policy.decide(streams[stream, default: StreamState()]) == .collect
        }
    }

    /// Records of rows just sealed, kept as samples while the stream collects.
    package func offer(_ records: [[UInt8]], for stream: DictionaryStream) {
        streams.withLock { streams in
            var state = streams[stream, default: StreamState()]
            defer { streams[stream] = state }
            guard !state.training, state.rowsUntilRetry == 0 else { return }
            for record in records where record.count <= policy.largestSample {
                guard state.sampleBytes + record.count <= policy.sampleBudget else { break }
                state.samples.append(record)
                state.sampleBytes += record.count
            }
        }
    }

    /// What appends of `stream` stored: `rows` records of `plain` bytes in `stored` bytes.
    /// Returns true when the stream now wants training (the caller schedules ``trainPending``).
    @discardableResult
    package func observe(_ stream: DictionaryStream, rows: Int, plain: Int, stored: Int) -> Bool {
        streams.withLock { streams in
            var state = streams[stream, default: StreamState()]
            defer { streams[stream] = state }
            state.rowsUntilRetry = max(0, state.rowsUntilRetry - rows)
            state.window.rows += rows
            state.window.plain += plain
            state.window.stored += stored
            switch policy.decide(state) {
            case .keep:
                if state.window.rows >= policy.checkEvery { state.window = Window() }
                return false
            case .collect:
                if !state.collecting {
                    state.collecting = true
                    state.window = Window()
                }
                return false
            case .train:
                return true
            }
        }
    }

    /// Trains every stream whose policy calls for it; returns the candidates worth adopting.
    /// `current` gives a stream's dictionary now, to judge a candidate against. Runs for about a
    /// second per stream at most (zstd's trainer on a few MiB): call it off any hot path.
    package func trainPending(current: (DictionaryStream) -> ZstdDictionary?) -> [Candidate] {
        let jobs: [(DictionaryStream, [[UInt8]], Int)] = streams.withLock { streams in
            var jobs: [(DictionaryStream, [[UInt8]], Int)] = []
            for (stream, var state) in streams {
                guard case .train(let capacity) = policy.decide(state) else { continue }
                jobs.append((stream, state.samples, capacity))
                state.training = true
                state.samples = []
                state.sampleBytes = 0
                streams[stream] = state
            }
            return jobs
        }
        var candidates: [Candidate] = []
        for (stream, samples, capacity) in jobs {
            let candidate = Self.train(stream, samples: samples, capacity: capacity, against: current(stream), policy: policy)
            streams.withLock { streams in
                var state = streams[stream, default: StreamState()]
                state.training = false
                state.collecting = false
                state.window = Window()
                if candidate == nil {
                    // Not better (or untrainable): wait before trying again.
                    state.rowsUntilRetry = policy.backoff
                }
                streams[stream] = state
            }
            if let candidate { candidates.append(candidate) }
        }
        return candidates
    }

    /// A stored candidate became `stream`'s dictionary.
    package func adopted(_ candidate: Candidate) {
        streams.withLock { streams in
            var state = streams[candidate.stream, default: StreamState()]
            state.phase = .steady
            state.adoptedRatio = candidate.ratio
            streams[candidate.stream] = state
        }
    }

    /// A stream whose dictionary came from the store at open: it watches for drift from there.
    package func resume(_ stream: DictionaryStream, ratio: Double) {
        streams.withLock { streams in
            var state = streams[stream, default: StreamState()]
            state.phase = .steady
            state.adoptedRatio = ratio
            streams[stream] = state
        }
    }

    /// Trains on all but the last tenth of `samples` and compares the result with `current` on
    /// that tenth; nil when training fails or the candidate is not `minimumGain` better.
    package static func train(
        _ stream: DictionaryStream, samples: [[UInt8]], capacity: Int, against current: ZstdDictionary?, policy: DictionaryPolicy
    ) -> Candidate? {
        let held = max(1, samples.count / 10)
        let training = Array(samples.dropLast(held))
        let heldOut = samples.suffix(held)
        guard let bytes = try? ZstdDictionary.train(samples: training, capacity: capacity),
              let candidate = try? ZstdDictionary(bytes: bytes, level: PayloadCodec.level),
              let compressor = try? ZstdCompressor(level: PayloadCodec.level)
        else { return nil }
        func size(_ dictionary: ZstdDictionary?) -> Int {
            heldOut.reduce(0) { total, record in total + ((try? compressor.compress(record, dictionary: dictionary))?.count ?? record.count) }
        }
        let plain = heldOut.reduce(0) { $0 + $1.count }
        let withCandidate = size(candidate)
        let withCurrent = size(current)
        guard withCandidate > 0, Double(withCurrent) >= policy.minimumGain * Double(withCandidate) else { return nil }
        return Candidate(stream: stream, bytes: bytes, level: PayloadCodec.level, samples: training.count, ratio: Double(plain) / Double(withCandidate))
    }
}
