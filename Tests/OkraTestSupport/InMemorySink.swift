import Foundation
import OkraIngest
import Synchronization

/// An ``EventSink`` in memory: keeps what it is given, recognizes ids it has seen as
/// duplicates (as the store does within its window), and can be told to fail.
public final class InMemorySink: EventSink {
    private struct State {
        var accepted: [RoutedEvent] = []
        var seenIDs: Set<String> = []
        var failing = false
        var delay: Duration = .zero
        var held = false
        var started = 0
        var readinessDelay: Duration = .zero
        var readiness = SinkReadiness(store: .accepting, kafka: .unknown)
    }

    /// What a failing sink throws.
    public struct Unavailable: Error {}

    private let state = Mutex(State())

    /// An empty sink that accepts.
    public init() {}

    /// How many `accept` calls have begun (a delayed one counts from its start).
    public var acceptsStarted: Int { state.withLock { $0.started } }

    /// Everything accepted, in order.
    public var accepted: [RoutedEvent] { state.withLock { $0.accepted } }

    /// Makes every later `accept` throw (or succeed again).
    public func setFailing(_ failing: Bool) { state.withLock { $0.failing = failing } }

    /// Makes every later `accept` take `delay` before it answers (a slow store).
    public func setDelay(_ delay: Duration) { state.withLock { $0.delay = delay } }

    /// Holds every `accept` (begun or later) until ``release()``: a store that answers when the
    /// test says, however loaded the machine.
    public func hold() { state.withLock { $0.held = true } }

    /// Lets held `accept`s go on.
    public func release() { state.withLock { $0.held = false } }

    /// Makes every later `readiness()` take `delay` (a slow `/readyz`).
    public func setReadinessDelay(_ delay: Duration) { state.withLock { $0.readinessDelay = delay } }

    /// What `readiness()` answers.
    public func setReadiness(_ readiness: SinkReadiness) { state.withLock { $0.readiness = readiness } }

    /// Keeps the event, or recognizes its id, or throws while failing.
    public func accept(_ event: RoutedEvent) async throws -> SinkAcceptance {
        let delay = state.withLock { state in
            state.started += 1
            return state.delay
        }
        if delay > .zero { try await Task.sleep(for: delay) }
        while state.withLock({ $0.held }) { try await Task.sleep(for: .milliseconds(5)) }
        return try state.withLock { state in
            if state.failing { throw Unavailable() }
            if let id = event.id, !state.seenIDs.insert(id).inserted { return .duplicate }
            state.accepted.append(event)
            return .accepted
        }
    }

    /// What ``setReadiness(_:)`` set.
    public func readiness() async -> SinkReadiness {
        let delay = state.withLock { $0.readinessDelay }
        if delay > .zero { try? await Task.sleep(for: delay) }
        return state.withLock { $0.readiness }
    }
}
