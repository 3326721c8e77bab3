#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// Loopback ports for a child process to listen on, which a test passes on its command line.
///
/// A port the kernel hands out for a bind to port 0 is in its ephemeral range, which is also
/// where the local ports of outgoing connections come from: between the test closing its probe
/// and the child binding, any connection of the test run (a Kafka client, an HTTP request) could
/// take it, and the child failed with "address in use" under a loaded CI run. These ports are
/// below that range, where only an explicit bind lands, and each call of one test process gets
/// a port of its own (a counter from a random start), checked free by binding it.
public enum FreePort {
    private static let next = Atomic<Int>(Int.random(in: 0..<4096))

    /// The first port of the kernel's ephemeral range (32768 unless configured otherwise).
    private static let ephemeralStart: Int = {
        let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        guard let low = range.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap({ Int($0) }), low > 12000 else { return 32768 }
        return low
    }()

    /// A loopback TCP port below the ephemeral range that nothing listened on a moment ago.
    public static func loopback() -> Int {
        let first = 10000
        let span = ephemeralStart - first
        for _ in 0..<span {
            let port = first + next.add(1, ordering: .relaxed).newValue % span
            if bindable(port) { return port }
        }
        fatalError("no free loopback port between \(first) and \(ephemeralStart)")
    }

    private static func bindable(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}
