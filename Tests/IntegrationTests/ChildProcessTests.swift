import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// The harness itself: what a child process the tests start can see of the test process.
@Suite("child processes")
struct ChildProcessTests {
    @Test("a child inherits no descriptor but its standard ones (a socket of an in-process test server would stay open in it)")
    func noInheritedDescriptors() async throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("okra-child-\(UUID().uuidString).out").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let child = try ChildProcess("/bin/ls", ["/proc/self/fd"], logPath: log)
        #expect(await child.wait(timeout: .seconds(10)) == 0)
        let listed = Set(child.log.split(separator: "\n").compactMap { Int32($0) })
        #expect(!listed.contains(ends[0]) && !listed.contains(ends[1]), "the child saw \(listed.sorted()); the pipe is \(ends)")
    }
}
