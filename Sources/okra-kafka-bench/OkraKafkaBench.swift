// Producer throughput through OkraKafka: N messages of S bytes, idempotence on, acks=all,
// every delivery result awaited. Prints one JSON line. See docs/benchmarks.md.
//
//   swift run -c release okra-kafka-bench --brokers 127.0.0.1:PORT [--messages 1000000]
//       [--size 300] [--partitions 4] [--topic NAME]
import Foundation
import Logging
import OkraKafka

struct Options {
    var brokers = ProcessInfo.processInfo.environment["KAFKA_BOOTSTRAP"] ?? ""
    var messages = 1_000_000
    var size = 300
    var partitions: Int32 = 4
    var topic = "bench-okra-\(UUID().uuidString.prefix(8).lowercased())"

    init(_ arguments: [String]) {
        var iterator = arguments.makeIterator()
        while let flag = iterator.next() {
            guard let value = iterator.next() else { Options.usage("missing value for \(flag)") }
            switch flag {
            case "--brokers": brokers = value
            case "--messages": messages = Options.number(value, flag)
            case "--size": size = Options.number(value, flag)
            case "--partitions": partitions = Int32(Options.number(value, flag))
            case "--topic": topic = value
            default: Options.usage("unknown flag \(flag)")
            }
        }
        if brokers.isEmpty { Options.usage("--brokers (or KAFKA_BOOTSTRAP) is required") }
    }

    static func number(_ value: String, _ flag: String) -> Int {
        guard let number = Int(value), number > 0 else { usage("\(flag) takes a positive number") }
        return number
    }

    static func usage(_ message: String) -> Never {
        FileHandle.standardError.write(Data("okra-kafka-bench: \(message)\nusage: okra-kafka-bench --brokers HOST:PORT [--messages N] [--size BYTES] [--partitions N] [--topic NAME]\n".utf8))
        exit(2)
    }
}

/// Delivery handles not awaited yet, awaited oldest first and then dropped.
final class DeliveryTracker {
    private var pending: [KafkaDelivery] = []
    private var awaited = 0
    private(set) var failures = 0
    private(set) var delivered = 0

    func add(_ delivery: KafkaDelivery) { pending.append(delivery) }

    var outstanding: Int { pending.count - awaited }

    /// Awaits the oldest delivery not awaited yet.
    func awaitOldest() async {
        let result: KafkaDeliveryReport? = try? await pending[awaited].result()
        if result == nil { failures += 1 } else { delivered += 1 }
        awaited += 1
        if awaited >= 65_536 {
            pending.removeFirst(awaited)
            awaited = 0
        }
    }
}

@main
struct OkraKafkaBench {
    static func main() async throws {
        try await run()
    }

    /// The measured work, kept off the main actor: awaiting each delivery from the main actor
    /// would hop executors twice per message and measure the hops, not the producer.
    nonisolated static func run() async throws {
        let options = Options(Array(CommandLine.arguments.dropFirst()))
        var logger = Logger(label: "okra-kafka-bench")
        logger.logLevel = .warning

        let admin = try KafkaAdmin(bootstrapServers: options.brokers, logger: logger)
        try await admin.createTopic(options.topic, partitions: options.partitions, ifNotExists: true)

        var configuration = KafkaProducerConfiguration(bootstrapServers: options.brokers)
        configuration.linger = .milliseconds(5)
        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        let payload = [UInt8](repeating: UInt8(ascii: "x"), count: options.size)
        let keys = (0..<1024).map { Array(String($0).utf8) }

        let tracker = DeliveryTracker()
        let window = configuration.maxInFlightMessages
        let clock = ContinuousClock()
        let started = clock.now
        for index in 0..<options.messages {
            var enqueued = false
            while !enqueued {
                do {
                    tracker.add(try producer.send(topic: options.topic, key: keys[index % 1024], value: payload))
                    enqueued = true
                    if tracker.outstanding >= window { await tracker.awaitOldest() }
                } catch {
                    // Bounded in flight: wait for the oldest delivery, then try again.
                    guard error.code == .queueFull, tracker.outstanding > 0 else { throw error }
                    await tracker.awaitOldest()
                }
            }
        }
        while tracker.outstanding > 0 { await tracker.awaitOldest() }
        let elapsed = clock.now - started
        await producer.shutdown()

        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = Double(options.messages) / seconds
        print(#"{"tool":"okra-kafka-bench","messages":\#(options.messages),"size":\#(options.size),"partitions":\#(options.partitions),"delivered":\#(tracker.delivered),"failed":\#(tracker.failures),"seconds":\#(String(format: "%.3f", seconds)),"messages_per_second":\#(Int(rate))}"#)
        exit(tracker.failures == 0 ? 0 : 1)
    }
}
