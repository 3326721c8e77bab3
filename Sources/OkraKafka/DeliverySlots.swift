import Synchronization

/// The pending delivery of one enqueued message.
public struct KafkaDelivery: Sendable {
    let slab: DeliverySlab
    let index: Int

    /// Waits for the broker's delivery report (or the failure that ended the message).
    /// Awaiting again returns the same result.
    public func result() async throws(KafkaError) -> KafkaDeliveryReport {
        try await slab.wait(index).get()
    }
}

/// A message waiting for its delivery report, as the producer tracks it.
struct PendingDelivery: Sendable {
    let slab: DeliverySlab
    let index: Int
    let topic: String

    func complete(_ outcome: DeliverySlab.Outcome) { slab.complete(index, outcome) }
}

/// The waiters of a producer's in-flight messages, by message id: `slots[i]` belongs to id
/// `baseID + i`, nil once reported. Ids are handed out in send order, so the first occupied
/// slot is the oldest message.
struct DeliveryRegistry {
    private var slots: [PendingDelivery?] = []
    /// The slab new deliveries take their result slot from, and the next free slot in it.
    private var slab: DeliverySlab?
    private var slabNext = 0
    private var baseID: UInt = 1
    private var head = 0
    /// Messages registered and not yet reported.
    private(set) var pending = 0

    /// A result slot for the next message, from the current slab or a new one.
    mutating func nextSlot(topic: String) -> PendingDelivery {
        if slab == nil || slabNext == DeliverySlab.capacity {
            slab = DeliverySlab()
            slabNext = 0
        }
        slabNext += 1
        return PendingDelivery(slab: slab!, index: slabNext - 1, topic: topic)
    }

    /// Registers a waiter; returns the message id to produce with.
    mutating func register(_ promise: PendingDelivery) -> UInt {
        slots.append(promise)
        pending += 1
        return baseID + UInt(slots.count - 1)
    }

    /// The waiter of message `id`, removed; nil when it was already taken.
    mutating func take(_ id: UInt) -> PendingDelivery? {
        guard id >= baseID else { return nil }
        let index = Int(id - baseID)
        guard index < slots.count, let promise = slots[index] else { return nil }
        slots[index] = nil
        pending -= 1
        return promise
    }

    /// Drops reported slots from the front; cheap, amortized.
    mutating func compact() {
        if pending == 0 {
            baseID += UInt(slots.count)
            slots.removeAll(keepingCapacity: true)
            head = 0
            return
        }
        while head < slots.count && slots[head] == nil { head += 1 }
        if head > 4096 && head * 2 > slots.count {
            slots.removeFirst(head)
            baseID += UInt(head)
            head = 0
        }
    }

    /// The id of the oldest message still waiting for its report.
    var oldestPendingID: UInt? { pending > 0 ? baseID + UInt(head) : nil }

    /// Takes every waiter, leaving none registered.
    mutating func takeAll() -> [PendingDelivery] {
        let taken = slots.compactMap { $0 }
        baseID += UInt(slots.count)
        slots.removeAll()
        head = 0
        pending = 0
        return taken
    }
}

/// The delivery results of up to 64 consecutive messages, each completed once by the event
/// thread, each with any number of waiters. One allocation serves 64 sends: allocating a result
/// object per message (and freeing it on another thread) was the largest cost of a send.
final class DeliverySlab: Sendable {
    typealias Outcome = Result<KafkaDeliveryReport, KafkaError>
    static let capacity = 64

    /// The state machine resumes each continuation exactly once, which is what lets it use
    /// unchecked continuations (a checked one allocates per wait).
    private enum Slot {
        case pending
        /// One waiter: the usual case, without an array.
        case waiting(UnsafeContinuation<Outcome, Never>)
        case waitingMany([UnsafeContinuation<Outcome, Never>])
        case done(Outcome)
    }

    private let slots = Mutex<[Slot]>(Array(repeating: .pending, count: DeliverySlab.capacity))

    func complete(_ index: Int, _ outcome: Outcome) {
        let waiters = slots.withLock { slots -> [UnsafeContinuation<Outcome, Never>] in
            defer { slots[index] = .done(outcome) }
            switch slots[index] {
            case .pending, .done: return []
            case .waiting(let waiter): return [waiter]
            case .waitingMany(let waiters): return waiters
            }
        }
        for waiter in waiters { waiter.resume(returning: outcome) }
    }

    func wait(_ index: Int) async -> Outcome {
        if let outcome = slots.withLock({ slots -> Outcome? in
            if case .done(let outcome) = slots[index] { return outcome }
            return nil
        }) {
            return outcome
        }
        return await withUnsafeContinuation { continuation in
            let ready = slots.withLock { slots -> Outcome? in
                switch slots[index] {
                case .done(let outcome):
                    return outcome
                case .pending:
                    slots[index] = .waiting(continuation)
                case .waiting(let first):
                    slots[index] = .waitingMany([first, continuation])
                case .waitingMany(var waiters):
                    slots[index] = .pending // drop the slot's reference, so the append does not copy
                    waiters.append(continuation)
                    slots[index] = .waitingMany(waiters)
                }
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
