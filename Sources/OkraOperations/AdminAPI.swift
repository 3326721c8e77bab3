import OkraEnvelope

/// The operations API's requests and answers (§9), as docs/admin-api.yaml describes them: the
/// server writes these and the CLI reads these, so a renamed member breaks a build or a test,
/// never an operator's command in silence. Written with ``AdminJSONEncoder`` and read with
/// ``AdminJSONDecoder`` (docs/decisions/0012-admin-api-types.md).
public enum AdminAPI {
    /// The most ids one request names (a replay's events, a redrive's records).
    public static let maxIDs = 1000

    /// Throws unless `ids` holds 1 to ``maxIDs`` items, each valid.
    static func check<ID>(_ ids: [ID]?, _ decoder: any Decoder, _ key: some CodingKey, valid: (ID) -> Bool) throws {
        guard let ids else { return }
        guard (1...maxIDs).contains(ids.count) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [key], debugDescription: "takes 1 to \(maxIDs) ids, got \(ids.count)"))
        }
        if let index = ids.firstIndex(where: { !valid($0) }) {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [key], debugDescription: "item \(index) is not an id: \(ids[index])"))
        }
    }

    /// `GET /admin/events`: a page of entries, newest first.
    public struct EventsPage: Codable, Sendable, Equatable {
        /// The entries, without their envelopes.
        public var events: [Entry]
        /// The `cursor` of the next page; null on the last.
        public var nextCursor: String?

        enum CodingKeys: String, CodingKey { case events, nextCursor = "next_cursor" }

        /// A page.
        public init(events: [Entry], nextCursor: String?) {
            self.events = events
            self.nextCursor = nextCursor
        }

        /// Reads a page; `next_cursor` must be there (null on the last page).
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            events = try container.decode([Entry].self, forKey: .events)
            nextCursor = try container.decode(String?.self, forKey: .nextCursor)
        }

        /// Writes `next_cursor` as null on the last page (the member is always there).
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(events, forKey: .events)
            try container.encode(nextCursor, forKey: .nextCursor)
        }
    }

    /// `GET /admin/events/{id}`: the entry of each environment the id arrived in, newest first.
    public struct Events: Codable, Sendable, Equatable {
        /// Whole entries.
        public var events: [Entry]

        /// Entries.
        public init(events: [Entry]) { self.events = events }
    }

    /// One entry of the event log: its indexed attributes, records and replays; whole (show and
    /// export), its envelope too, or for a dead letter without one the body as received.
    public struct Entry: Codable, Sendable, Equatable {
        /// Its place in the log (the cursor of listings).
        public var entry: Int64
        /// The envelope's id (absent for a dead letter of a body that is no event).
        public var id: String?
        /// When the bridge received it, RFC 3339 with milliseconds.
        public var recordedtime: String
        /// The envelope's attributes (absent for a dead letter without one).
        public var type: String?, time: String?, okraproduct: String?, okraoutcome: String?, okracode: String?
        /// The environment: the envelope's, or for a dead letter its token's.
        public var okraenv: String?
        /// More of the envelope's attributes.
        public var okrashape: String?, okrarecord: String?, okracustomer: String?, okraaccount: String?, okrabank: String?
        /// Whether it went to the dead-letter topic.
        public var deadletter: Bool
        /// Why, for a dead letter.
        public var reason: String?
        /// Later deliveries of the same id answered as duplicates.
        public var duplicates: Int
        /// Each routed record and its state.
        public var records: [Record]
        /// Each replay, oldest first.
        public var replays: [Replay]
        /// The envelope on one line (whole entries).
        public var envelope: RawJSON?
        /// The body as received, as UTF-8 text (bytes that are not UTF-8 as U+FFFD), for a whole
        /// dead letter without an envelope, shown only to a token with `read-pii`.
        public var body: String?
        /// The body's size in bytes, for a whole dead letter without an envelope.
        public var bodyBytes: Int?
        /// Whether personal data was masked (the envelope's) or withheld (a dead letter's body):
        /// present on whole entries for a token without `read-pii`.
        public var redacted: Bool?

        enum CodingKeys: String, CodingKey {
            case entry, id, recordedtime, type, time, okraproduct, okraoutcome, okracode, okraenv, okrashape, okrarecord, okracustomer, okraaccount,
                 okrabank, deadletter, reason, duplicates, records, replays, envelope, body, bodyBytes = "body_bytes", redacted
        }

        /// `entry` as the API answers it: `whole` with the envelope (or the body); `redacting`,
        /// its personal data masked (``PersonalData``) and a dead letter's body withheld.
        public init(_ entry: LogEntry, whole: Bool, redacting: Bool) {
            self.entry = entry.entry
            id = entry.id
            recordedtime = RFC3339.milliseconds(sinceEpoch: entry.recordedAtMilliseconds)
            if let event = entry.envelope {
                type = event.type
                time = event.time
                okraproduct = event.product.rawValue
                okraoutcome = event.outcome.rawValue
                okracode = event.code
                okraenv = event.environment.rawValue
                okrashape = event.shape.rawValue
                okrarecord = event.record
                okracustomer = event.customer
                okraaccount = event.account
                okrabank = event.bank
                // On one line (the whitespace between the payload's tokens removed), so an export is JSON lines.
                if whole { envelope = RawJSON(verbatim: redacting ? event.redactedOneLineJSONBytes() : event.oneLineJSONBytes()) }
            } else {
                okraenv = entry.tokenEnvironment?.rawValue
                if whole {
                    // A body that is no event cannot be masked by key: withheld, its size shown.
                    body = redacting ? nil : String(decoding: entry.body, as: UTF8.self)
                    bodyBytes = entry.body.count
                }
            }
            if whole && redacting { redacted = true }
            deadletter = entry.deadletter
            reason = entry.reason
            duplicates = entry.duplicates
            records = entry.records.map(Record.init)
            replays = entry.replays.map { Replay(replayedtime: RFC3339.milliseconds(sinceEpoch: $0.replayedAtMilliseconds), records: $0.records.map(Record.init)) }
        }
    }

    /// One routed record of an entry.
    public struct Record: Codable, Sendable, Equatable {
        /// The topic (null when a route dropped the event).
        public var topic: String?
        /// The key.
        public var key: String?
        /// The route that made it (null for the defaults and dead letters).
        public var route: String?
        /// Its state now.
        public var state: LoggedRecord.State
        /// Kafka's error, when parked.
        public var error: String?

        enum CodingKeys: String, CodingKey { case topic, key, route, state, error }

        /// `record` as answered.
        public init(_ record: LoggedRecord) {
            topic = record.topic
            key = record.key
            route = record.route
            state = record.state
            error = record.error
        }

        /// Reads a record; topic, key and route must be there (null when none).
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            topic = try container.decode(String?.self, forKey: .topic)
            key = try container.decode(String?.self, forKey: .key)
            route = try container.decode(String?.self, forKey: .route)
            state = try container.decode(LoggedRecord.State.self, forKey: .state)
            error = try container.decodeIfPresent(String.self, forKey: .error)
        }

        /// Topic, key and route always written (null when none); the error only when parked.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(topic, forKey: .topic)
            try container.encode(key, forKey: .key)
            try container.encode(route, forKey: .route)
            try container.encode(state, forKey: .state)
            try container.encodeIfPresent(error, forKey: .error)
        }
    }

    /// One replay of an entry.
    public struct Replay: Codable, Sendable, Equatable {
        /// When, RFC 3339 with milliseconds.
        public var replayedtime: String
        /// The records it appended.
        public var records: [Record]
    }

    /// `POST /admin/replay`'s body.
    public struct ReplayRequest: Codable, Sendable, Equatable {
        /// Which entries (the listing's filters).
        public var filter: Filter?
        /// Event ids, besides the filter.
        public var ids: [String]?
        /// Publish (true) or only plan (absent or false).
        public var execute: Bool?

        enum CodingKeys: String, CodingKey, CaseIterable { case filter, ids, execute }

        /// A request.
        public init(filter: Filter?, ids: [String]?, execute: Bool) {
            self.filter = filter
            self.ids = ids
            self.execute = execute
        }

        /// Reads the body, refusing a member it does not know.
        public init(from decoder: any Decoder) throws {
            try AdminJSONDecoder.rejectUnknownKeys(decoder, allowed: Set(CodingKeys.allCases.map(\.rawValue)))
            let container = try decoder.container(keyedBy: CodingKeys.self)
            filter = try container.decodeIfThere(Filter.self, forKey: .filter)
            ids = try container.decodeIfThere([String].self, forKey: .ids)
            try AdminAPI.check(ids, decoder, CodingKeys.ids) { !$0.isEmpty }
            execute = try container.decodeIfThere(Bool.self, forKey: .execute)
        }
    }

    /// A replay's filter: the listing's query keys, as JSON.
    public struct Filter: Codable, Sendable, Equatable {
        /// Each key and its value as a query would carry it (`deadletter` as `true`/`false`).
        public var values: [String: String]

        /// The filter of `values` (query keys and texts).
        public init(values: [String: String]) { self.values = values }

        /// Reads `{"since":"...","deadletter":true,...}`: strings, and a boolean for `deadletter`;
        /// a key outside the listing's is refused.
        public init(from decoder: any Decoder) throws {
            try AdminJSONDecoder.rejectUnknownKeys(decoder, allowed: Set(EventFilter.queryKeys))
            let container = try decoder.container(keyedBy: AnyKey.self)
            var values: [String: String] = [:]
            for key in container.allKeys {
                values[key.stringValue] = key.stringValue == "deadletter"
                    ? String(try container.decode(Bool.self, forKey: key))
                    : try container.decode(String.self, forKey: key)
            }
            self.values = values
        }

        /// Writes each value as a string, `deadletter` as a boolean, keys sorted.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: AnyKey.self)
            for (key, value) in values.sorted(by: { $0.key < $1.key }) {
                if key == "deadletter", let flag = Bool(value) {
                    try container.encode(flag, forKey: AnyKey(stringValue: key))
                } else {
                    try container.encode(value, forKey: AnyKey(stringValue: key))
                }
            }
        }
    }

    /// `POST /admin/replay`'s answer: what was (or would be) published.
    public struct Plan: Codable, Sendable, Equatable {
        /// Whether the records were appended (false: a dry run).
        public var executed: Bool
        /// Entries replayed.
        public var events: Int
        /// Records in all.
        public var records: Int
        /// Dead letters that are events under the current code.
        public var recovered: Int
        /// Entries refused by the current code (an event for another environment than its
        /// token's): nothing published for them.
        public var refused: Int
        /// Whether more entries matched than one call replays.
        public var truncated: Bool
        /// Records per topic.
        public var topics: [String: Int]

        enum CodingKeys: String, CodingKey { case executed, events, records, recovered, refused, truncated, topics }

        /// `plan` as answered.
        public init(_ plan: ReplayPlan) {
            executed = plan.executed
            events = plan.events
            records = plan.records
            recovered = plan.recovered
            refused = plan.refused
            truncated = plan.truncated
            topics = plan.topics
        }

        /// Topics sorted by name, so the same plan is the same bytes.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(executed, forKey: .executed)
            try container.encode(events, forKey: .events)
            try container.encode(records, forKey: .records)
            try container.encode(recovered, forKey: .recovered)
            try container.encode(refused, forKey: .refused)
            try container.encode(truncated, forKey: .truncated)
            var counts = container.nestedContainer(keyedBy: AnyKey.self, forKey: .topics)
            for (topic, count) in topics.sorted(by: { $0.key < $1.key }) { try counts.encode(count, forKey: AnyKey(stringValue: topic)) }
        }
    }

    /// `GET /admin/parked`: parked records, oldest first.
    public struct ParkedList: Codable, Sendable, Equatable {
        /// The records.
        public var parked: [Parked]

        /// A list.
        public init(parked: [Parked]) { self.parked = parked }
    }

    /// A record Kafka refused for good.
    public struct Parked: Codable, Sendable, Equatable {
        /// Its id in the parked list.
        public var id: Int64
        /// The event's id (null when it had none).
        public var eventID: String?
        /// The topic.
        public var topic: String
        /// The key (null when none).
        public var key: String?
        /// Value, key and headers, in bytes.
        public var bytes: Int
        /// When it was received, and when parked (RFC 3339).
        public var recordedtime: String, parkedtime: String
        /// The short reason (`message_too_large`, `topic`, `authorization`...).
        public var reason: String
        /// Kafka's error.
        public var error: String

        enum CodingKeys: String, CodingKey { case id, eventID = "event_id", topic, key, bytes, recordedtime, parkedtime, reason, error }

        /// `record` as answered.
        public init(_ record: ParkedEntry) {
            id = record.seq
            eventID = record.eventID
            topic = record.topic
            key = record.key
            bytes = record.bytes
            recordedtime = RFC3339.milliseconds(sinceEpoch: record.createdAtMilliseconds)
            parkedtime = RFC3339.milliseconds(sinceEpoch: record.parkedAtMilliseconds)
            reason = record.reason
            error = record.error
        }

        /// Reads a parked record; every member must be there (`event_id` and `key` may be null).
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            id = try container.decode(Int64.self, forKey: .id)
            eventID = try container.decode(String?.self, forKey: .eventID)
            topic = try container.decode(String.self, forKey: .topic)
            key = try container.decode(String?.self, forKey: .key)
            bytes = try container.decode(Int.self, forKey: .bytes)
            recordedtime = try container.decode(String.self, forKey: .recordedtime)
            parkedtime = try container.decode(String.self, forKey: .parkedtime)
            reason = try container.decode(String.self, forKey: .reason)
            error = try container.decode(String.self, forKey: .error)
        }

        /// Every member written, null ones too.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(eventID, forKey: .eventID)
            try container.encode(topic, forKey: .topic)
            try container.encode(key, forKey: .key)
            try container.encode(bytes, forKey: .bytes)
            try container.encode(recordedtime, forKey: .recordedtime)
            try container.encode(parkedtime, forKey: .parkedtime)
            try container.encode(reason, forKey: .reason)
            try container.encode(error, forKey: .error)
        }
    }

    /// `POST /admin/parked/redrive` and `/discard`'s body: `{"ids":[...]}` or `{"all":true}`.
    public struct Selection: Codable, Sendable, Equatable {
        /// Parked ids.
        public var ids: [Int64]?
        /// Every parked record.
        public var all: Bool?

        enum CodingKeys: String, CodingKey, CaseIterable { case ids, all }

        /// A selection.
        public init(_ selection: ParkedSelection) {
            switch selection {
            case .all: all = true
            case .ids(let ids): self.ids = ids
            }
        }

        /// Reads the body, refusing a member it does not know.
        public init(from decoder: any Decoder) throws {
            try AdminJSONDecoder.rejectUnknownKeys(decoder, allowed: Set(CodingKeys.allCases.map(\.rawValue)))
            let container = try decoder.container(keyedBy: CodingKeys.self)
            ids = try container.decodeIfThere([Int64].self, forKey: .ids)
            try AdminAPI.check(ids, decoder, CodingKeys.ids) { $0 >= 0 }
            all = try container.decodeIfThere(Bool.self, forKey: .all)
        }

        /// What a body that names no records is told.
        public static let howToName = #"name the records: {"ids":[...]} (at least one) or {"all":true}, not both"#

        /// The selection it names, or why it names none.
        public func selection() throws(OperationsError) -> ParkedSelection {
            switch (ids, all) {
            case (nil, true?): return .all
            case (let ids?, nil) where !ids.isEmpty: return .ids(ids)
            default: throw OperationsError(Self.howToName)
            }
        }
    }

    /// `POST /admin/parked/redrive`'s answer.
    public struct Redriven: Codable, Sendable, Equatable {
        /// Records put back in the outbox.
        public var redriven: Int
        /// A count.
        public init(redriven: Int) { self.redriven = redriven }
    }

    /// `POST /admin/parked/discard`'s answer.
    public struct Discarded: Codable, Sendable, Equatable {
        /// Records given up.
        public var discarded: Int
        /// A count.
        public init(discarded: Int) { self.discarded = discarded }
    }

    /// Every error answer (§3): `{"error":{"code":...,"message":...}}`.
    public struct ErrorAnswer: Codable, Sendable, Equatable {
        /// The error.
        public var error: Detail

        /// What went wrong.
        public struct Detail: Codable, Sendable, Equatable {
            /// A stable word (`bad-request`, `unauthorized`, `not-found`, `unavailable`...).
            public var code: String
            /// One line for a person.
            public var message: String
        }

        /// An error answer.
        public init(code: String, message: String) { error = Detail(code: code, message: message) }
    }
}

extension KeyedDecodingContainer {
    /// The member when it is there, nil when it is not; a request's `null` is refused like any
    /// other value of the wrong kind (the document declares no request member nullable).
    func decodeIfThere<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        contains(key) ? try decode(T.self, forKey: key) : nil
    }
}
