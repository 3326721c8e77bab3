import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A TCP connection to loopback on plain sockets, for clients that misbehave on purpose:
/// half a request's headers, a byte at a time, a body that never comes.
final class RawConnection: @unchecked Sendable {
    let fd: Int32

    /// Connects to 127.0.0.1:`port` from `source` (another loopback address stands for another sender).
    init(port: Int, from source: String = "127.0.0.1") throws {
        // The descriptor is this object's only once connected: a class whose initializer throws
        // after its properties are set still runs deinit, which would close the number twice
        // (by then perhaps another test's socket).
        fd = try Self.connected(port: port, from: source)
    }

    private static func connected(port: Int, from source: String) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        // Bound to `source` first, then connected to the listener.
        for (host, port, call, failure) in [(source, 0, bind, POSIXErrorCode.EADDRNOTAVAIL), ("127.0.0.1", port, connect, .ECONNREFUSED)] {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr(host)
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { call(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard result == 0 else {
                let code = errno
                close(fd)
                throw POSIXError(.init(rawValue: code) ?? failure)
            }
        }
        return fd
    }

    deinit { close(fd) }

    /// Sends `text`; false when the peer no longer takes bytes.
    @discardableResult
    func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// Whether bytes (or the peer's close) are waiting; never blocks, so the test's threads stay
    /// free for the server under test.
    private func readable() async -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        if poll(&poller, 1, 0) > 0 { return true }
        try? await Task.sleep(for: .milliseconds(5))
        return false
    }

    /// What arrived before the peer closed, and whether it closed within `timeout`. What the
    /// peer did by the deadline counts even when this task ran late (the test process's threads
    /// are shared by many tests): the socket is read once more, without waiting, at the end.
    func readUntilClosed(timeout: Duration) async -> (text: String, closed: Bool) {
        var received: [UInt8] = []
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 65536)
        func readWaiting() -> Bool? {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 0) > 0 else { return nil }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return true }
            received += buffer[0..<count]
            return false
        }
        while ContinuousClock.now < deadline {
            guard await readable() else { continue }
            if readWaiting() == true { return (String(decoding: received, as: UTF8.self), true) }
        }
        while let closed = readWaiting() {
            if closed { return (String(decoding: received, as: UTF8.self), true) }
        }
        return (String(decoding: received, as: UTF8.self), false)
    }

    /// Whether the peer has closed, looking without waiting.
    var peerClosed: Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, 0) > 0 else { return false }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_PEEK)) == 0
    }

    /// Reads one whole answer (headers and a Content-Length body) within `timeout`.
    func readAnswer(timeout: Duration) async -> String? {
        var received: [UInt8] = []
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 65536)
        while ContinuousClock.now < deadline {
            let text = String(decoding: received, as: UTF8.self)
            if let end = text.range(of: "\r\n\r\n") {
                let head = text[..<end.lowerBound].lowercased()
                let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                if text.utf8.count - text[..<end.upperBound].utf8.count >= length { return text }
            }
            guard await readable() else { continue }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return nil }
            received += buffer[0..<count]
        }
        return nil
    }
}

extension String {
    /// The status code of an HTTP/1.1 answer.
    var statusCode: Int? {
        guard hasPrefix("HTTP/1.1 ") else { return nil }
        return Int(dropFirst(9).prefix(3))
    }
}
