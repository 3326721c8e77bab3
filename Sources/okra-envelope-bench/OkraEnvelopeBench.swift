// Normalizer throughput: normalizes the seed payloads (the golden fixtures) round-robin, in
// one thread, and prints one JSON line. See docs/benchmarks.md.
//
//   swift run -c release okra-envelope-bench [--iterations N] [--fixtures DIR]
//
// With --shapes, the cost per byte of 900 KiB bodies of the worst shapes (deep arrays, many
// escaped keys, a top-level array, a large object of plain keys) against a plain 900 KiB
// payload of the same size: one JSON line per shape with its CPU time per byte and its ratio.
//
//   swift run -c release okra-envelope-bench --shapes [--iterations N]      (--shape NAME: plain and that one)
import Foundation
import OkraEnvelope

@main
struct OkraEnvelopeBench {
    static func main() throws {
        var iterations = 1_000_000
        var directory = "Tests/OkraEnvelopeTests/Fixtures/payloads"
        var shapesMode = false
        var only: String?
        var arguments = CommandLine.arguments.dropFirst().makeIterator()
        while let flag = arguments.next() {
            if flag == "--shapes" {
                shapesMode = true
                continue
            }
            if flag == "--shape", let name = arguments.next() {
                shapesMode = true
                only = name
                continue
            }
            switch (flag, arguments.next()) {
            case ("--iterations", let value?): iterations = Int(value) ?? iterations
            case ("--fixtures", let value?): directory = value
            default:
                FileHandle.standardError.write(Data("usage: okra-envelope-bench [--iterations N] [--fixtures DIR] | --shapes [--iterations N]\n".utf8))
                exit(2)
            }
        }
        if shapesMode { return shapes(iterations: iterations == 1_000_000 ? 40 : iterations, only: only) }
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

    /// The size every shape is made to (the default --max-body).
    static let size = 900 * 1024

    /// Repeats `piece(i)` between `head` and `tail` until the body is about `size` bytes.
    static func fill(_ head: String, _ tail: String, separator: String = ",", _ piece: (Int) -> String) -> [UInt8] {
        var body = Array(head.utf8)
        var index = 0
        while body.count < size - 2048 {
            if index > 0 { body += Array(separator.utf8) }
            body += Array(piece(index).utf8)
            index += 1
        }
        return body + Array(tail.utf8)
    }

    /// The bodies: a plain payload (the reference) and the worst shapes for the normalizer.
    static func bodies() -> [(name: String, body: [UInt8])] {
        let plain = fill(#"{"type":"CALLBACK","callback_type":"TRANSACTIONS","code":"TRANSACTIONS_SUCCESS","record":"r-1","ended_at":"2026-12-03T10:00:00.000Z","transactions":["#, "]}") {
            #"{"_id":"t\#($0)","amount":\#($0 % 977),"credit":null,"debit":\#($0 % 13),"notes":{"desc":"POS purchase at a store"},"trans_date":"2026-12-01T00:00:00.000Z"}"#
        }
        let deep = fill(#"{"type":"CALLBACK","record":"r-2","data":["#, "]}") { _ in
            String(repeating: "[", count: 120) + "1" + String(repeating: "]", count: 120)
        }
        let escapedKeys = fill(#"{"type":"CALLBACK","record":"r-3","#, "}") { index in
            let key = "key\(index)".unicodeScalars.map { String(format: "\\u%04x", $0.value) }.joined()
            return #""\#(key)":\#(index)"#
        }
        let plainKeys = fill(#"{"type":"CALLBACK","record":"r-4","#, "}") { #""key\#($0)":\#($0)"# }
        let topArray = fill("[", "]") { #"{"_id":"t\#($0)","amount":\#($0 % 977),"notes":{"desc":"POS purchase"}}"# }
        return [("plain", plain), ("deep-arrays", deep), ("escaped-keys", escapedKeys), ("many-plain-keys", plainKeys), ("top-level-array", topArray)]
    }

    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }

    static func shapes(iterations: Int, only: String? = nil) {
        let received = Date()
        var plainPerByte = 0.0
        for (name, body) in bodies() where only == nil || name == only || name == "plain" {
            var checksum = 0
            // One untimed run first (page faults, caches), then the measured ones.
            if case .success(let event) = Normalizer.normalize(body, receivedAt: received) { checksum &+= event.jsonBytes().count }
            let started = cpuSeconds()
            for _ in 0..<iterations {
                switch Normalizer.normalize(body, receivedAt: received) {
                case .success(let event): checksum &+= event.jsonBytes().count
                case .failure(let rejection): checksum &+= rejection.message.utf8.count
                }
            }
            let perByte = (cpuSeconds() - started) / Double(iterations * body.count) * 1e9
            if name == "plain" { plainPerByte = perByte }
            print(#"{"tool":"okra-envelope-bench","shape":"\#(name)","bytes":\#(body.count),"iterations":\#(iterations),"cpu_ns_per_byte":\#(String(format: "%.3f", perByte)),"ratio_to_plain":\#(String(format: "%.2f", perByte / plainPerByte)),"checksum":\#(checksum)}"#)
        }
    }
}
