@testable import OkraHTTP
import Testing

/// The deadlines of one connection, without sockets or clocks.
@Suite("Connection state machine")
struct ConnectionStateMachineTests {
    static let limits = ConnectionLimits(headerTimeout: .seconds(10), bodyTimeout: .seconds(30), idleTimeout: .seconds(60),
                                         maxConnections: 8, lingerAfterRefusal: .seconds(2))

    @Test("a request runs header, body, no deadline while answered, then idle; the next request's first byte starts its header deadline")
    func keepAlive() {
        var machine = ConnectionStateMachine(limits: Self.limits)
        #expect(machine.opened() == .arm(.header, .seconds(10)))
        #expect(machine.bytesArrived() == (true, .none))
        #expect(machine.headArrived() == .arm(.body, .seconds(30)))
        #expect(machine.endArrived() == .disarm)
        #expect(machine.answerStarted(status: 200) == false)
        #expect(machine.answerEnded() == .arm(.idle, .seconds(60)))
        #expect(machine.phase == .idle)
        #expect(machine.bytesArrived() == (true, .arm(.header, .seconds(10))))
        #expect(machine.fired(.idle) == .none, "a replaced idle timer does nothing")
        #expect(machine.fired(.header) == .refuseAndLinger(.timeout, failRequest: false))
    }

    @Test("a missed body deadline is a 408 that fails the request being read; after an answer has begun it only closes")
    func bodyDeadline() {
        var machine = ConnectionStateMachine(limits: Self.limits)
        _ = machine.opened()
        _ = machine.headArrived()
        #expect(machine.fired(.body) == .refuseAndLinger(.timeout, failRequest: true))
        #expect(machine.bytesArrived() == (false, .none), "what arrives while lingering is discarded")
        #expect(machine.fired(.linger) == .close)

        var answered = ConnectionStateMachine(limits: Self.limits)
        _ = answered.opened()
        _ = answered.headArrived()
        _ = answered.answerStarted(status: 200)
        #expect(answered.fired(.body) == .close)
    }

    @Test("401, 403, 408 and 413 end the connection after their answer; other statuses keep it")
    func refusalsClose() {
        for status in [401, 403, 408, 413] {
            var machine = ConnectionStateMachine(limits: Self.limits)
            _ = machine.opened()
            _ = machine.headArrived()
            let closes = machine.answerStarted(status: status)
            #expect(closes)
            #expect(machine.answerEnded() == .linger(.seconds(2)))
            #expect(machine.phase == .lingering)
        }
        for status in [200, 400, 404, 503] {
            var machine = ConnectionStateMachine(limits: Self.limits)
            _ = machine.opened()
            _ = machine.headArrived()
            #expect(machine.answerStarted(status: status) == false)
        }
    }

    @Test("an answer that says Connection: close ends the connection the way a refusal does: half closed, then the linger")
    func connectionCloseLingers() {
        var machine = ConnectionStateMachine(limits: Self.limits)
        _ = machine.opened()
        _ = machine.headArrived()
        _ = machine.endArrived()
        let closes = machine.answerStarted(status: 200, closes: true)
        #expect(closes)
        #expect(machine.answerEnded() == .linger(.seconds(2)))
        #expect(machine.phase == .lingering)
        let passes = machine.bytesArrived().pass
        #expect(passes == false)
    }

    @Test("answered before its body was read (503 over budget): the body deadline runs on, and the request's end makes the connection idle")
    func answeredEarly() {
        var machine = ConnectionStateMachine(limits: Self.limits)
        _ = machine.opened()
        _ = machine.headArrived()
        _ = machine.answerStarted(status: 503)
        #expect(machine.answerEnded() == .none)
        #expect(machine.phase == .readingBody)
        #expect(machine.endArrived() == .arm(.idle, .seconds(60)))
    }

    @Test("no room is a 503 refusal; bytes that are not HTTP are a 400 that fails a body being read")
    func refusals() {
        var full = ConnectionStateMachine(limits: Self.limits)
        #expect(full.refusedOnOpen(.overCapacity) == .refuseAndLinger(.overCapacity, failRequest: false))
        #expect(full.bytesArrived() == (false, .none))
        var crowded = ConnectionStateMachine(limits: Self.limits)
        #expect(crowded.refusedOnOpen(.overAddressCapacity) == .refuseAndLinger(.overAddressCapacity, failRequest: false))
        #expect(crowded.bytesArrived() == (false, .none))
        var stranger = ConnectionStateMachine(limits: Self.limits)
        #expect(stranger.closedOnOpen() == .close)
        #expect(stranger.bytesArrived().pass == false)

        var garbled = ConnectionStateMachine(limits: Self.limits)
        _ = garbled.opened()
        #expect(garbled.malformed() == .refuseAndLinger(.badRequest, failRequest: false))

        var chunked = ConnectionStateMachine(limits: Self.limits)
        _ = chunked.opened()
        _ = chunked.headArrived()
        #expect(chunked.malformed() == .refuseAndLinger(.badRequest, failRequest: true))
    }
}
