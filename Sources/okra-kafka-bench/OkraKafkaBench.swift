// Producer throughput through OkraKafka: N messages of S bytes, idempotence on, acks=all,
// every delivery result awaited. Prints one JSON line. See docs/benchmarks.md.
//
//   swift run -c release okra-kafka-bench --brokers 127.0.0.1:PORT [--messages 1000000]
//       [--size 300] [--partitions 4] [--topic NAME]
//
// With --waiters N it is a closed loop instead, as direct mode's webhooks are: N senders, each
// sending one record and awaiting its report before the next, spread over --topics topics, for
// --seconds; it prints the CPU a record of the whole process and of librdkafka's own threads
// (`rdk:*`, from /proc/self/task/*/schedstat): what the producer costs a webhook that waits.
//
//   okra-kafka-bench --brokers 127.0.0.1:PORT --waiters 32 [--topics 14] [--partitions 1]
//       [--linger-ms 1] [--seconds 20] [--size 1400]
import Foundation
import Logging
import OkraKafka

struct Options {
    var brokers = ProcessInfo.processInfo.environment["KAFKA_BOOTSTRAP"] ?? ""
    var messages = 1_000_000
    var size = 300
    var partitions: Int32 = 4
    var topic = "bench-okra-\(UUID().uuidString.prefix(8).lowercased())"
    /// Closed loop: senders each awaiting their record's report (0: the throughput run).
    var waiters = 0
    var topics = 1
    var lingerMilliseconds = 5
    var seconds = 20

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
            case "--waiters": waiters = Options.number(value, flag)
            case "--topics": topics = Options.number(value, flag)
            case "--linger-ms": lingerMilliseconds = Options.number(value, flag, allowingZero: true)
            case "--seconds": seconds = Options.number(value, flag)
            default: Options.usage("unknown flag \(flag)")
            }
        }
        if brokers.isEmpty { Options.usage("--brokers (or KAFKA_BOOTSTRAP) is required") }
    }

    static func number(_ value: String, _ flag: String, allowingZero: Bool = false) -> Int {
        guard let number = Int(value), number > 0 || (allowingZero && number == 0) else { usage("\(flag) takes a positive number") }
        return number
    }

    static func usage(_ message: String) -> Never {
        FileHandle.standardError.write(Data("okra-kafka-bench: \(message)\nusage: okra-kafka-bench --brokers HOST:PORT [--messages N] [--size BYTES] [--partitions N] [--topic NAME] [--waiters N --topics N --linger-ms MS --seconds S]\n".utf8))
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
        if options.waiters > 0 { return try await closedLoop(options, logger: logger) }

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

    /// Direct mode's pattern: `waiters` senders, each awaiting its report before sending again.
    nonisolated static func closedLoop(_ options: Options, logger: Logger) async throws {
        let admin = try KafkaAdmin(bootstrapServers: options.brokers, logger: logger)
        let topics = (0..<options.topics).map { "\(options.topic)-\($0)" }
        for topic in topics { try await admin.createTopic(topic, partitions: options.partitions, ifNotExists: true) }
        var configuration = KafkaProducerConfiguration(bootstrapServers: options.brokers)
        configuration.linger = .milliseconds(options.lingerMilliseconds)
        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        let payload = [UInt8](repeating: UInt8(ascii: "x"), count: options.size)
        // A first record a topic, so metadata and connections are not measured.
        for topic in topics { _ = try await producer.send(topic: topic, key: nil, value: payload).result() }

        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(options.seconds)
        let before = ThreadTimes.read(), usageBefore = ProcessTime.now(), started = clock.now
        let (delivered, failed) = await withTaskGroup(of: (Int, Int).self) { group in
            for waiter in 0..<options.waiters {
                group.addTask {
                    var delivered = 0, failed = 0, sequence = waiter
                    while clock.now < deadline {
                        let key = Array("\(waiter)-\(sequence)".utf8)
                        sequence += options.waiters
                        do {
                            _ = try await producer.send(topic: topics[sequence % topics.count], key: key, value: payload).result()
                            delivered += 1
                        } catch {
                            failed += 1
                        }
                    }
                    return (delivered, failed)
                }
            }
            return await group.reduce(into: (0, 0)) { $0.0 += $1.0; $0.1 += $1.1 }
        }
        let elapsed = clock.now - started, usageAfter = ProcessTime.now(), after = ThreadTimes.read()
        await producer.shutdown()

        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let records = Double(max(delivered, 1))
        let process = (usageAfter - usageBefore) / records * 1e6
        let librdkafka = after.nanoseconds(where: { $0.hasPrefix("rdk:") }, since: before) / records / 1e3
        print(#"{"tool":"okra-kafka-bench","mode":"closed-loop","waiters":\#(options.waiters),"topics":\#(options.topics),"partitions":\#(options.partitions),"linger_ms":\#(options.lingerMilliseconds),"size":\#(options.size),"delivered":\#(delivered),"failed":\#(failed),"seconds":\#(String(format: "%.3f", seconds)),"records_per_second":\#(Int(Double(delivered) / seconds)),"cpu_us_per_record":\#(String(format: "%.1f", process)),"librdkafka_threads_cpu_us_per_record":\#(String(format: "%.1f", librdkafka))}"#)
        exit(failed == 0 ? 0 : 1)
    }
}

/// The process's CPU time (user and system, every thread) in seconds.
enum ProcessTime {
    static func now() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}

/// Each thread's name and time on a CPU (nanoseconds, /proc/self/task/TID/schedstat's first field).
struct ThreadTimes {
    var threads: [Int: (name: String, nanoseconds: Double)] = [:]

    static func read() -> ThreadTimes {
        var times = ThreadTimes()
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        for task in tasks {
            guard let tid = Int(task),
                  let name = try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8),
                  let stat = try? String(contentsOfFile: "/proc/self/task/\(task)/schedstat", encoding: .utf8),
                  let ran = stat.split(separator: " ").first.flatMap({ Double($0) }) else { continue }
            times.threads[tid] = (name.trimmingCharacters(in: .whitespacesAndNewlines), ran)
        }
        return times
    }

    /// The time the threads whose name matches spent since `earlier` (threads that ended between are not seen).
    func nanoseconds(where matches: (String) -> Bool, since earlier: ThreadTimes) -> Double {
        threads.reduce(0) { total, entry in
            guard matches(entry.value.name) else { return total }
            return total + entry.value.nanoseconds - (earlier.threads[entry.key]?.nanoseconds ?? 0)
        }
    }
}
