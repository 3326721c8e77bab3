// Normalizer throughput: normalizes the seed payloads (the golden fixtures) round-robin, in
// one thread, and prints one JSON line. See docs/benchmarks.md.
//
//   swift run -c release okra-envelope-bench [--iterations N] [--fixtures DIR]
import Foundation
import OkraEnvelope

@main
struct OkraEnvelopeBench {
    static func main() throws {
        var iterations = 1_000_000
        var directory = "Tests/OkraEnvelopeTests/Fixtures/payloads"
        var arguments = CommandLine.arguments.dropFirst().makeIterator()
        while let flag = arguments.next() {
            switch (flag, arguments.next()) {
            case ("--iterations", let value?): iterations = Int(value) ?? iterations
            case ("--fixtures", let value?): directory = value
            default:
                FileHandle.standardError.write(Data("usage: okra-envelope-bench [--iterations N] [--fixtures DIR]\n".utf8))
                exit(2)
            }
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
            .filter { $0.hasSuffix(".json") && !$0.hasSuffix(".invalid.json") }.sorted()
        let payloads = try names.map { Array(try Data(contentsOf: URL(fileURLWithPath: directory).appendingPathComponent($0))) }
        guard !payloads.isEmpty else {
            FileHandle.standardError.write(Data("no payloads in \(directory)\n".utf8))
            exit(1)
        }
        let received = Date()
        var bytes = 0
        var checksum = 0
        let clock = ContinuousClock()
        let started = clock.now
        for index in 0..<iterations {
            let body = payloads[index % payloads.count]
            bytes += body.count
            if case .success(let event) = Normalizer.normalize(body, receivedAt: received) {
                checksum &+= event.jsonBytes().count
            }
        }
        let elapsed = clock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = seconds > 0 ? Double(iterations) / seconds : 0
        print(#"{"tool":"okra-envelope-bench","payloads":\#(payloads.count),"iterations":\#(iterations),"mean_payload_bytes":\#(bytes / max(iterations, 1)),"seconds":\#(String(format: "%.3f", seconds)),"payloads_per_second":\#(Int(rate)),"checksum":\#(checksum)}"#)
    }
}
