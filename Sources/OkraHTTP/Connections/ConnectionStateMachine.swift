/// The deadlines of one HTTP/1.1 connection (§3) as a state machine: events in, actions out.
/// No sockets and no clock: ``ConnectionGuard`` feeds it and carries out what it returns.
///
/// A new connection has `headerTimeout` for its first request's headers (counted from the
/// accept, so a connection that sends nothing is not kept either); the body then has
/// `bodyTimeout`; while the answer is made nothing runs; after it the connection may wait
/// `idleTimeout` for its next request, whose headers get `headerTimeout` from their first byte.
/// A missed header or body deadline is answered 408 unless an answer is already on its way.
/// Answers that refuse a request (401, 403, 408, 413) or say `Connection: close` end the
/// connection: it is half closed after the answer and lingers, discarding what arrives, until the client closes or
/// `lingerAfterRefusal` passes.
struct ConnectionStateMachine {
    enum Phase: Equatable {
        /// Between requests: nothing of the next one has arrived.
        case idle
        /// Bytes of a request's headers are arriving.
        case readingHead
        /// The headers arrived; the body is arriving.
        case readingBody
        /// The request is read; its answer is being made.
        case answering
        /// Refused: the answer is sent (or going), the rest is discarded until close.
        case lingering
        /// Closed.
        case closed
    }

    enum Timer: Equatable {
        case header, body, idle, linger
    }

    /// What the guard does next.
    enum Action: Equatable {
        case none
        /// Starts `timer` to fire after that long, replacing the one running.
        case arm(Timer, Duration)
        /// Stops the running timer.
        case disarm
        /// Writes this refusal itself (no answer is on its way), half closes and lingers; when
        /// `failRequest`, a request whose body was being read fails too, so a body cut short is
        /// never taken for a whole one.
        case refuseAndLinger(Refusal, failRequest: Bool)
        /// Half closes after what was written, and lingers.
        case linger(Duration)
        /// Closes now.
        case close
    }

    /// The refusals the guard writes itself, below HTTP's encoder.
    enum Refusal: Equatable {
        case timeout, badRequest, overCapacity, overAddressCapacity
    }

    let limits: ConnectionLimits
    private(set) var phase: Phase = .readingHead
    /// An answer's head was written and its end not yet.
    private var responding = false
    /// The current request was answered before its body was read to the end.
    private var answeredEarly = false
    /// The answer being written refuses the request: close after it.
    private var closeAfterAnswer = false

    init(limits: ConnectionLimits) {
        self.limits = limits
    }

    /// The connection was accepted and holds a place: its first headers have `headerTimeout`.
    mutating func opened() -> Action {
        phase = .readingHead
        return .arm(.header, limits.headerTimeout)
    }

    /// The connection was accepted with no place for it (the listener's or its address's
    /// limit): answered 503 and closed.
    mutating func refusedOnOpen(_ refusal: Refusal) -> Action {
        phase = .lingering
        return .refuseAndLinger(refusal, failRequest: false)
    }

    /// The connection's address may not connect: closed at once, unanswered.
    mutating func closedOnOpen() -> Action {
        phase = .closed
        return .close
    }

    /// Bytes arrived. Returns whether to hand them on to HTTP's decoder, and what to do.
    mutating func bytesArrived() -> (pass: Bool, action: Action) {
        switch phase {
        case .idle:
            phase = .readingHead
            return (true, .arm(.header, limits.headerTimeout))
        case .lingering, .closed:
            return (false, .none)
        case .readingHead, .readingBody, .answering:
            return (true, .none)
        }
    }

    /// A request's headers were decoded.
    mutating func headArrived() -> Action {
        guard phase != .lingering && phase != .closed else { return .none }
        phase = .readingBody
        answeredEarly = false
        return .arm(.body, limits.bodyTimeout)
    }

    /// A request's end was decoded.
    mutating func endArrived() -> Action {
        guard phase == .readingBody else { return .none }
        if answeredEarly && !responding {
            // Answered before its body was read (a 503, say): nothing more comes of it.
            phase = .idle
            return .arm(.idle, limits.idleTimeout)
        }
        phase = .answering
        return .disarm
    }

    /// Whether an answer with this status ends the connection: it refuses the request.
    static func refuses(status: Int) -> Bool {
        [401, 403, 408, 413].contains(status)
    }

    /// An answer's head is being written; `closes` when it says `Connection: close` itself. Returns
    /// whether it ends the connection (the guard then adds `Connection: close`): either way it is
    /// half closed after the answer and lingers, so a client still sending reads the whole answer
    /// instead of a reset.
    mutating func answerStarted(status: Int, closes: Bool = false) -> Bool {
        responding = true
        closeAfterAnswer = closeAfterAnswer || closes || Self.refuses(status: status)
        return closeAfterAnswer
    }

    /// An answer's end is being written (the guard flushes it first when this is `.linger`).
    mutating func answerEnded() -> Action {
        responding = false
        guard phase != .lingering && phase != .closed else { return .none }
        if closeAfterAnswer {
            phase = .lingering
            return .linger(limits.lingerAfterRefusal)
        }
        switch phase {
        case .answering:
            phase = .idle
            return .arm(.idle, limits.idleTimeout)
        case .readingHead, .readingBody:
            // Answered before the request was read to its end: its deadline keeps running.
            answeredEarly = true
            return .none
        case .idle, .lingering, .closed:
            return .none
        }
    }

    /// HTTP's decoder failed on the bytes.
    mutating func malformed() -> Action {
        guard phase != .lingering && phase != .closed else { return .none }
        // An answer already on the wire cannot be followed by ours: just close.
        if responding { phase = .closed; return .close }
        return refuse(.badRequest)
    }

    /// `timer` fired.
    mutating func fired(_ timer: Timer) -> Action {
        switch (timer, phase) {
        case (.header, .readingHead), (.body, .readingBody):
            if responding { phase = .closed; return .close }
            return refuse(.timeout)
        case (.idle, .idle), (.linger, .lingering):
            phase = .closed
            return .close
        default:
            // A timer of a phase that has passed.
            return .none
        }
    }

    /// The channel closed (the peer went away, or a close ran).
    mutating func channelClosed() {
        phase = .closed
    }

    private mutating func refuse(_ refusal: Refusal) -> Action {
        let bodyInFlight = phase == .readingBody
        phase = .lingering
        return .refuseAndLinger(refusal, failRequest: bodyInFlight)
    }
}
