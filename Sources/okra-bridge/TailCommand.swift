import ArgumentParser
import Foundation
import Logging
import OkraEnvelope
import OkraKafka

/// `okra-bridge tail --brokers B --topic T [--from-beginning] [--count N]`: print events from a topic.
struct TailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Print the records of a Kafka topic: one JSON line each with partition, offset, key, headers and value.",
        discussion: "Without --from-beginning only records produced after it starts are shown. Stops after --count records, or on Ctrl-C."
    )

    @Option(help: "Kafka bootstrap servers (host:port,...). Also OKRA_BRIDGE_BROKERS.")
    var brokers: String?

    @Option(help: "The topic to read.")
    var topic: String

    @Flag(help: "Read from the first offset of every partition.")
    var fromBeginning = false

    @Option(help: "Stop after this many records.")
    var count: Int?

    @Option(name: .customLong("kafka"), help: "Any librdkafka property as KEY=VALUE (repeatable), e.g. security.protocol=SASL_SSL.")
    var kafka: [String] = []

    func run() async throws {
        guard let brokers = brokers ?? ProcessInfo.processInfo.environment["OKRA_BRIDGE_BROKERS"], !brokers.isEmpty else {
            throw UsageError("--brokers (or OKRA_BRIDGE_BROKERS) is required")
        }
        if let count, count < 1 { throw UsageError("--count takes a positive number, got \(count)") }
        var logger = Logger(label: "okra-bridge.tail")
        logger.logLevel = .warning
        var configuration = KafkaConsumerConfiguration(bootstrapServers: brokers)
        configuration.startFromBeginning = fromBeginning
        configuration.properties = try FlagValue.kafkaProperties(kafka)
        if !fromBeginning {
            // A group of its own with auto.offset.reset=latest: only new records, nothing committed elsewhere.
            configuration.groupID = "okra-bridge-tail-\(UUID().uuidString.prefix(8))"
        }
        let consumer: KafkaConsumer
        do {
            consumer = try KafkaConsumer(configuration: configuration, logger: logger)
            if fromBeginning {
                try await consumer.assignAllPartitions(of: topic)
            } else {
                try consumer.subscribe(topics: [topic])
            }
        } catch {
            throw UserError("\(error)")
        }
        var printed = 0
        while count.map({ printed < $0 }) ?? true {
            let records: [KafkaConsumerRecord]
            do {
                records = try await consumer.poll(maxRecords: 500, timeout: .milliseconds(500))
            } catch {
                throw UserError("\(error)")
            }
            for record in records {
                if let count, printed >= count { break }
                FileHandle.standardOutput.write(Data((Self.line(record) + "\n").utf8))
                printed += 1
            }
        }
        await consumer.close()
    }

    /// One JSON line: topic, partition, offset, key, headers, and the value (as JSON when it is
    /// JSON, else as a string).
    static func line(_ record: KafkaConsumerRecord) -> String {
        let quote = JSONWriter.quoted
        let key = record.key.map { quote(String(decoding: $0, as: UTF8.self)) } ?? "null"
        let headers = record.headers.map { "[\(quote($0.name)),\($0.stringValue.map(quote) ?? "null")]" }.joined(separator: ",")
        let text = String(decoding: record.value, as: UTF8.self)
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let looksLikeJSON = trimmed.hasPrefix("{") && trimmed.hasSuffix("}") && (try? JSONParser.parse(record.value)) != nil
        let value = looksLikeJSON ? String(decoding: JSONWriter.removingInsignificantWhitespace(Array(trimmed.utf8)), as: UTF8.self) : quote(text)
        return #"{"topic":\#(quote(record.topic)),"partition":\#(record.partition),"offset":\#(record.offset),"key":\#(key),"headers":[\#(headers)],"value":\#(value)}"#
    }
}
