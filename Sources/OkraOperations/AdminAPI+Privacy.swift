import OkraEnvelope

// The answers of the privacy side of the admin API: the caller's token, the audit trail, erasure.
extension AdminAPI {
    /// `GET /admin/token`: the calling token's name and scopes, so a client can tell what it may do.
    public struct TokenInfo: Codable, Sendable, Equatable {
        /// The token's name (`admin` for a bare token).
        public var name: String
        /// Its scopes, in the order metrics, read, read-pii, operate.
        public var scopes: [AdminScope]

        /// `caller` as answered.
        public init(_ caller: AdminCaller) {
            name = caller.name
            scopes = caller.scopes.sorted()
        }
    }

    /// `GET /admin/audit`: a page of the audit trail, newest first.
    public struct AuditPage: Codable, Sendable, Equatable {
        /// The lines.
        public var audit: [AuditLine]
        /// The `cursor` of the next page; null on the last.
        public var nextCursor: String?

        enum CodingKeys: String, CodingKey { case audit, nextCursor = "next_cursor" }

        /// A page.
        public init(audit: [AuditLine], nextCursor: String?) {
            self.audit = audit
            self.nextCursor = nextCursor
        }

        /// Reads a page; `next_cursor` must be there (null on the last page).
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            audit = try container.decode([AuditLine].self, forKey: .audit)
            nextCursor = try container.decode(String?.self, forKey: .nextCursor)
        }

        /// Writes `next_cursor` as null on the last page.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(audit, forKey: .audit)
            try container.encode(nextCursor, forKey: .nextCursor)
        }
    }

    /// One line of the audit trail, as the API, the CLI and the process log write it.
    public struct AuditLine: Codable, Sendable, Equatable {
        /// Its place in the trail.
        public var seq: Int64
        /// When, RFC 3339 with milliseconds.
        public var time: String
        /// The token's name (a reload: the file's path).
        public var token: String
        /// The scope used (absent for a reload).
        public var scope: AdminScope?
        /// What was done.
        public var action: AuditAction
        /// The filter, when one was given.
        public var filter: [String: String]?
        /// The ids named.
        public var ids: [String]?
        /// How many it touched.
        public var count: Int
        /// Why the action failed or stopped part way; absent when it succeeded.
        public var error: String?

        enum CodingKeys: String, CodingKey { case seq, time, token, scope, action, filter, ids, count, error }

        /// `record` as answered.
        public init(_ record: AuditRecord) {
            seq = record.seq
            time = RFC3339.milliseconds(sinceEpoch: record.atMilliseconds)
            token = record.token
            scope = record.scope
            action = record.action
            filter = record.filter
            ids = record.ids
            count = record.count
            error = record.error
        }

        /// The filter's keys sorted, so the same line is the same bytes.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(seq, forKey: .seq)
            try container.encode(time, forKey: .time)
            try container.encode(token, forKey: .token)
            try container.encodeIfPresent(scope, forKey: .scope)
            try container.encode(action, forKey: .action)
            if let filter { try container.encode(Filter(values: filter), forKey: .filter) }
            try container.encodeIfPresent(ids, forKey: .ids)
            try container.encode(count, forKey: .count)
            try container.encodeIfPresent(error, forKey: .error)
        }

        /// Reads a line (the filter as a replay's, `deadletter` a boolean).
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            seq = try container.decode(Int64.self, forKey: .seq)
            time = try container.decode(String.self, forKey: .time)
            token = try container.decode(String.self, forKey: .token)
            scope = try container.decodeIfPresent(AdminScope.self, forKey: .scope)
            action = try container.decode(AuditAction.self, forKey: .action)
            filter = try container.decodeIfPresent(Filter.self, forKey: .filter)?.values
            ids = try container.decodeIfPresent([String].self, forKey: .ids)
            count = try container.decode(Int.self, forKey: .count)
            error = try container.decodeIfPresent(String.self, forKey: .error)
        }
    }

    /// `POST /admin/erase`'s body: `{"customer":"..."}`.
    public struct EraseRequest: Codable, Sendable, Equatable {
        /// The Okra customer id (`okracustomer`) whose entries are removed.
        public var customer: String

        enum CodingKeys: String, CodingKey, CaseIterable { case customer }

        /// A request.
        public init(customer: String) { self.customer = customer }

        /// Reads the body, refusing a member it does not know or an empty customer.
        public init(from decoder: any Decoder) throws {
            try AdminJSONDecoder.rejectUnknownKeys(decoder, allowed: Set(CodingKeys.allCases.map(\.rawValue)))
            let container = try decoder.container(keyedBy: CodingKeys.self)
            customer = try container.decode(String.self, forKey: .customer)
            guard !customer.isEmpty, customer.utf8.count <= 200 else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [CodingKeys.customer], debugDescription: "takes a customer id of 1 to 200 characters"))
            }
        }
    }

    /// `POST /admin/erase`'s answer.
    public struct Erased: Codable, Sendable, Equatable {
        /// Entries removed now.
        public var erased: Int
        /// Entries removed once their pending records are delivered.
        public var waiting: Int
        /// Parked records removed.
        public var parked: Int

        /// `erasure` as answered.
        public init(_ erasure: Erasure) {
            erased = erasure.erased
            waiting = erasure.waiting
            parked = erasure.parked
        }
    }
}
