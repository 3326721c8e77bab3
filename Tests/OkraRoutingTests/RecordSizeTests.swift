import Foundation
import OkraEnvelope
import OkraRouting
import Testing

/// A body of a known size always makes records of a known size, whatever it holds (§6 sizes).
@Suite("Record sizes")
struct RecordSizeTests {
    static let received = Date(timeIntervalSince1970: 1_767_225_600)
    static let maxBody = 900 * 1024

    static func table(format: String) throws -> RouteTable {
        try RouteTable.load(Array(#"{"version":1,"defaults":{"topic":"okra.{env}.{product}.{outcome}","key":"record","format":"\#(format)"},"deadLetter":{"topic":"okra.deadletter"},"routes":[]}"#.utf8))
    }

    /// A v2 callback padded to exactly `size` bytes, its id fields `value` each.
    static func body(size: Int, value: String) -> [UInt8] {
        let fields = ["record", "customerId", "accountId", "bankSlug", "code", "ended_at"].map { #""\#($0)":"\#(value)""# }.joined(separator: ",")
        let head = #"{"type":"CALLBACK","method":"PAYMENT","env":"production",\#(fields),"pad":""#
        let padding = size - head.utf8.count - 2
        return Array((head + String(repeating: "x", count: max(0, padding)) + "\"}").utf8)
    }

    static func size(_ record: RoutedRecord) -> Int {
        record.value.count + (record.key?.utf8.count ?? 0) + record.headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count }
    }

    /// Attribute values: far too long (left out), and at the bound with characters escaped 6 to 1 or 2 to 1.
    static let values = [String(repeating: "r", count: 120_000), String(repeating: #"\u0001"#, count: 256), String(repeating: #"\""#, count: 256)]

    @Test("records stay within the body plus the bounded overhead, in both formats",
          arguments: ["structured", "binary"], 0..<3)
    func boundedOverhead(_ format: String, _ valueIndex: Int) throws {
        let body = Self.body(size: Self.maxBody, value: Self.values[valueIndex])
        #expect(body.count == Self.maxBody)
        let event = try Normalizer.normalize(body, receivedAt: Self.received).get()
        let decision = Router.route(event, table: try Self.table(format: format), receivedAt: Self.received)
        for record in decision.records {
            let attributes = event.attributes.map { "\($0.name)=\($0.value.utf8.count)" }.joined(separator: " ")
            #expect(Self.size(record) <= body.count + EnvelopeLimits.maxRecordOverhead, "\(Self.size(record)) bytes for a body of \(body.count): \(attributes)")
            // So the default --max-body fits librdkafka's default message.max.bytes.
            #expect(Self.size(record) < 1_000_000)
        }
    }

    @Test("an attribute value up to the bound is kept; one byte more and it is left out (the payload keeps it)")
    func attributeBound() throws {
        let atBound = String(repeating: "a", count: EnvelopeLimits.maxAttributeBytes)
        let kept = try Normalizer.normalize(Array(#"{"callback_type":"AUTH","callback_code":"AUTH_SUCCESS","record":"\#(atBound)"}"#.utf8), receivedAt: Self.received).get()
        #expect(kept.record == atBound)
        let over = atBound + "a"
        let left = try Normalizer.normalize(Array(#"{"callback_type":"AUTH","callback_code":"AUTH_SUCCESS","record":"\#(over)","recordId":"short"}"#.utf8), receivedAt: Self.received).get()
        #expect(left.record == "short", "the next place that names a record is used")
        #expect(String(decoding: left.data, as: UTF8.self).contains(over))
    }
}
