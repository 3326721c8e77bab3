import Foundation

/// Why a body cannot become a canonical event.
public struct Rejection: Error, Sendable, Equatable, CustomStringConvertible {
    /// The reason code, as in the dead-letter header `okra-bridge-reason`.
    public struct Reason: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The code as written in the dead-letter header.
        public var rawValue: String
        /// A reason with this code.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The body is not valid JSON.
        public static let malformedJSON = Reason(rawValue: "malformed-json")
        /// The body is valid JSON but not an object.
        public static let notAnObject = Reason(rawValue: "not-an-object")
        /// The body is an object, but of no shape Okra sends (product `unknown`); it is still an
        /// event with an id, so this reason appears on dead letters only, never on a rejection.
        public static let unrecognized = Reason(rawValue: "unrecognized")
        /// The code.
        public var description: String { rawValue }
    }

    /// The reason code.
    public var reason: Reason
    /// One line saying what is wrong and where.
    public var message: String
    /// Where the JSON parser stopped, for `malformed-json`.
    public var syntaxError: JSONSyntaxError?

    /// The reason code and the message, in one line.
    public var description: String { "\(reason): \(message)" }
}

/// Turns the raw bytes of an Okra webhook into a ``CanonicalEvent``. Pure: no I/O, no clock
/// (the receive time is passed in), and the same bytes always give the same id.
public enum Normalizer {
    /// Normalizes one body received at `receivedAt`.
    public static func normalize(_ body: [UInt8], receivedAt: Date) -> Result<CanonicalEvent, Rejection> {
        let document: JSONDocument
        do {
            document = try JSONParser.document(body)
        } catch {
            return .failure(Rejection(reason: .malformedJSON, message: "not valid JSON at \(error)", syntaxError: error))
        }
        guard document.isObject else {
            return .failure(Rejection(reason: .notAnObject, message: "the body is \(document.rootKindName), not a JSON object"))
        }
        return .success(event(from: document, receivedAt: receivedAt))
    }

    /// The canonical event for a document whose root is an object.
    static func event(from document: JSONDocument, receivedAt: Date) -> CanonicalEvent {
        document.withRoot { payload in event(from: payload, document: document, receivedAt: receivedAt) }
    }

    private static func event(from payload: JSONElement, document: JSONDocument, receivedAt: Date) -> CanonicalEvent {
        let shape = OkraShape.detect(payload)
        // Attributes from the payload's text with characters CloudEvents forbids in a string
        // (control characters, noncharacters) are left out and named, never copied into an
        // attribute or a header; the payload in `data` keeps them. A code so left out says
        // nothing of the outcome either.
        let sentCode = first(OkraVocabulary.codeFields, in: payload)
        let code = sentCode.flatMap { CloudEventsString.isValid($0) ? $0 : nil }
        let product = shape.fixedProduct ?? callbackProduct(payload)
        let outcome = OkraVocabulary.outcome(shape.fixedOutcome ?? outcome(code: code, status: payload["status"]?.nonEmptyString), of: product)
        let environment = environment(of: payload)
        let time = OkraVocabulary.timePaths.lazy.compactMap { payload.value(at: $0)?.nonEmptyString }.first(where: { fitsAttribute($0) && RFC3339.isValid($0) })
        let event = CanonicalEvent(
            // A payload with no time of its own cannot tell a redelivery from a new update of the
            // same content: its id covers the minute it was received (§2).
            id: time == nil ? IdempotencyKey.make(document, receivedAt: receivedAt) : IdempotencyKey.make(document),
            time: time,
            recordedTime: RFC3339.milliseconds(receivedAt),
            product: product,
            outcome: outcome,
            code: sentCode,
            environment: environment,
            record: first(OkraVocabulary.recordPaths, in: payload),
            customer: first(OkraVocabulary.customerPaths, in: payload),
            account: first(OkraVocabulary.accountPaths, in: payload),
            bank: first(OkraVocabulary.bankPaths, in: payload),
            shape: shape,
            partitionKey: nil,
            data: document.range == document.bytes.indices ? document.bytes : Array(document.bytes[document.range])
        )
        return event.droppingForbiddenAttributes()
    }

    /// The product named by `callback_type` or `method`, or `unknown`.
    static func callbackProduct(_ payload: JSONElement) -> OkraProduct {
        for field in OkraVocabulary.productFields {
            if let name = payload.value(at: field)?.nonEmptyString, let product = OkraVocabulary.productByCallbackType[uppercasedIfNeeded(name)] {
                return product
            }
        }
        return .unknown
    }

    /// The outcome from the code first, then from `status`, else `unknown`.
    public static func outcome(code: String?, status: String?) -> OkraOutcome {
        if let code = code.map(uppercasedIfNeeded) {
            for (pattern, outcome) in OkraVocabulary.outcomeRules where pattern.matches(code) { return outcome }
        }
        if let status, let outcome = OkraVocabulary.outcomeByStatus[status.lowercased()] { return outcome }
        return .unknown
    }

    /// `text.uppercased()`, skipping the work for text that is ASCII without lowercase letters
    /// (Okra's codes as sent).
    static func uppercasedIfNeeded(_ text: String) -> String {
        text.utf8.allSatisfy({ $0 < 0x80 && !(UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) }) ? text : text.uppercased()
    }

    /// `production`, `sandbox` or `unknown`, from the first `env` that names one.
    static func environment(of payload: JSONElement) -> OkraEnvironment {
        for path in OkraVocabulary.environmentPaths {
            if let value = payload.value(at: path)?.nonEmptyString, let env = OkraVocabulary.environmentByValue[value.lowercased()] {
                return env
            }
        }
        return .unknown
    }

    /// The first non-empty string at any of `paths` that is short enough to be an attribute.
    static func first(_ paths: [JSONPath], in payload: JSONElement) -> String? {
        for path in paths {
            if let value = payload.value(at: path)?.nonEmptyString, fitsAttribute(value) { return value }
        }
        return nil
    }

    /// Whether `value` is at most ``EnvelopeLimits/maxAttributeBytes`` long.
    static func fitsAttribute(_ value: String) -> Bool {
        value.utf8.count <= EnvelopeLimits.maxAttributeBytes
    }
}

/// The idempotency key of §2.
public enum IdempotencyKey {
    /// Top-level fields that only say where a delivery was sent, left out of the key.
    public static let deliveryOnlyFields: Set<String> = ["callbackURL", "callback_url", "callbackUrl"]
    private static let deliveryOnlyKeys: [[UInt8]] = deliveryOnlyFields.sorted().map { Array($0.utf8) }

    /// `okra-` + the first 32 hex digits of SHA-256 over the canonical JSON of the payload
    /// without the delivery-only fields.
    public static func make(_ document: JSONDocument) -> String {
        text(document.withCanonicalBytes(excludingTopLevel: document.isObject ? deliveryOnlyKeys : [], SHA256.hash))
    }

    /// `okra-` and the first 16 bytes of `digest` in lowercase hex.
    private static func text(_ digest: [UInt8]) -> String {
        String(unsafeUninitializedCapacity: 37) { text in
            for (index, byte) in "okra-".utf8.enumerated() { text[index] = byte }
            for index in 0..<16 {
                text[5 + 2 * index] = ByteWriter.hexDigit(digest[index] >> 4)
                text[6 + 2 * index] = ByteWriter.hexDigit(digest[index] & 0xF)
            }
            return 37
        }
    }

    /// The key of a payload with no time of its own (§2, untimed shapes): the canonical JSON
    /// with `"received-minute":"YYYY-MM-DDTHH:MMZ"`, the UTC minute it was received, sorted in
    /// among its top-level members. A redelivery within that minute is a duplicate; a later
    /// update with the same content is a new event.
    public static func make(_ document: JSONDocument, receivedAt: Date) -> String {
        let digest = document.withCanonicalBytes(excludingTopLevel: document.isObject ? deliveryOnlyKeys : [],
                                                 adding: document.isObject ? receivedMinute(receivedAt) : nil, SHA256.hash)
        return text(digest)
    }

    /// The member an untimed payload's key adds: `received-minute` and the minute, as JSON.
    public static func receivedMinute(_ receivedAt: Date) -> CanonicalMember {
        let minute = RFC3339.milliseconds(receivedAt).prefix(16) // YYYY-MM-DDTHH:MM
        return CanonicalMember(key: Array("received-minute".utf8), value: Array("\"\(minute)Z\"".utf8))
    }

    /// The key of a value tree (written compactly and parsed back).
    public static func make(_ payload: JSONValue) -> String {
        make(JSONDocument(payload))
    }

    /// The bytes the key hashes: the canonical JSON without the delivery-only top-level fields
    /// (with the receive minute when `receivedAt` is given: an untimed payload's).
    public static func canonicalBytes(_ document: JSONDocument, receivedAt: Date? = nil) -> [UInt8] {
        var canonical: [UInt8] = []
        document.writeCanonical(into: &canonical, excludingTopLevel: document.isObject ? deliveryOnlyKeys : [],
                                adding: document.isObject ? receivedAt.map(receivedMinute) : nil)
        return canonical
    }
}

/// RFC 3339 timestamps.
public enum RFC3339 {
    /// `date` as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    public static func milliseconds(_ date: Date) -> String {
        milliseconds(sinceEpoch: Int64((date.timeIntervalSince1970 * 1000).rounded(.down)))
    }

    /// `totalMilliseconds` since 1970 as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    public static func milliseconds(sinceEpoch totalMilliseconds: Int64) -> String {
        let millis = Int(((totalMilliseconds % 1000) + 1000) % 1000)
        let seconds = (totalMilliseconds - Int64(millis)) / 1000
        let days = Int(floorDiv(seconds, 86_400))
        let secondOfDay = Int(seconds - Int64(days) * 86_400)
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        guard (0...9999).contains(year) else {
            return "\(year)-\(month)-\(day)T00:00:00.000Z" // outside RFC 3339's range; never a real receive time
        }
        return String(unsafeUninitializedCapacity: 24) { text in
            var position = 0
            func digits(_ value: Int, _ count: Int, then separator: UInt8?) {
                var value = value
                for offset in stride(from: count - 1, through: 0, by: -1) {
                    text[position + offset] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
                position += count
                if let separator {
                    text[position] = separator
                    position += 1
                }
            }
            digits(year, 4, then: UInt8(ascii: "-"))
            digits(month, 2, then: UInt8(ascii: "-"))
            digits(day, 2, then: UInt8(ascii: "T"))
            digits(secondOfDay / 3600, 2, then: UInt8(ascii: ":"))
            digits(secondOfDay / 60 % 60, 2, then: UInt8(ascii: ":"))
            digits(secondOfDay % 60, 2, then: UInt8(ascii: "."))
            digits(millis, 3, then: UInt8(ascii: "Z"))
            return position
        }
    }

    /// Whether `text` is an RFC 3339 date-time (`2021-04-23T07:39:35.376Z`, `...+01:00`).
    public static func isValid(_ text: String) -> Bool {
        var text = text
        return text.withUTF8(isValid)
    }

    static func isValid(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        func digits(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= b.count else { return nil }
            var value = 0
            for i in range {
                guard b[i] >= 48 && b[i] <= 57 else { return nil }
                value = value * 10 + Int(b[i] - 48)
            }
            return value
        }
        guard b.count >= 20, let month = digits(5..<7), let day = digits(8..<10), let hour = digits(11..<13),
              let minute = digits(14..<16), let second = digits(17..<19), digits(0..<4) != nil,
              b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t"),
              b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second <= 60 else { return false }
        var i = 19
        if b[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            while i < b.count, b[i] >= 48 && b[i] <= 57 { i += 1 }
            guard i > start else { return false }
        }
        guard i < b.count else { return false }
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") { return i + 1 == b.count }
        guard b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-"), i + 6 == b.count,
              let offsetHour = digits(i + 1..<i + 3), let offsetMinute = digits(i + 4..<i + 6),
              b[i + 3] == UInt8(ascii: ":"), offsetHour < 24, offsetMinute < 60 else { return false }
        return true
    }

    private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }

    /// Proleptic Gregorian date for days since 1970-01-01 (H. Hinnant's civil_from_days).
    private static func civilDate(daysSinceEpoch: Int) -> (Int, Int, Int) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
