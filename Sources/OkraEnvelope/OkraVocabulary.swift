/// Everything the normalizer knows about Okra, as data. Adding Okra's next product, code or
/// field location is a line in one of these tables.
public enum OkraVocabulary {
    /// The products an event can be about (`okraproduct`).
    public static let products = ["auth", "identity", "accounts", "balance", "transactions", "income", "payment", "record", "user", "widget", "unknown"]

    /// The outcomes an event can report (`okraoutcome`).
    public static let outcomes = ["success", "failed", "cancelled", "deleted", "updated", "disconnected", "reauth_required", "event", "unknown"]

    /// The environments (`okraenv`).
    public static let environments = ["production", "sandbox", "unknown"]

    /// `callback_type` / `method` values and the product they mean.
    static let productByCallbackType: [String: String] = [
        "AUTH": "auth",
        "IDENTITY": "identity",
        "ACCOUNTS": "accounts",
        "BALANCE": "balance",
        "PERIODIC_BALANCE": "balance",
        "TRANSACTIONS": "transactions",
        "PERIODIC_TRANSACTIONS": "transactions",
        "INCOME": "income",
        "PAYMENT": "payment",
        "PAYMENT_RECURRING": "payment",
        "RECORD": "record",
    ]

    /// Where a callback names its product, in order of preference.
    static let productFields: [JSONPath] = ["callback_type", "method"]

    /// Where the code is, in order: `okracode` is the first present.
    static let codeFields: [JSONPath] = ["callback_code", "code", "event", "event_name"]

    /// How a code maps to an outcome. Tried in order; the first rule that matches wins.
    static let outcomeRules: [(CodePattern, String)] = [
        (.exact("WEBHOOK_UPDATE_ACKNOWLEDGED"), "updated"),
        (.exact("USER_DISCONNECT"), "disconnected"),
        (.exact("USER_REAUTH"), "reauth_required"),
        (.exact("ERROR"), "failed"),
        (.exact("PRODUCT_IS_READY"), "success"),
        (.exact("PDOCUT_IS_READY"), "success"),      // sic: Okra's v1 docs
        (.suffix("_SUCCESS"), "success"),
        (.suffix("_SUCCES"), "success"),             // sic: AUTH_SUCCES in Okra's event table
        (.suffix("_IS_READY"), "success"),
        (.suffix("_FAILED"), "failed"),
        (.suffix("_CANCELLED"), "cancelled"),
        (.suffix("_DELETED"), "deleted"),
        (.prefix("INITIAL_"), "success"),
        (.prefix("FULL_"), "success"),
        (.prefix("PERIODIC_"), "success"),
    ]

    /// `status` values used when the code says nothing.
    static let outcomeByStatus: [String: String] = [
        "is_success": "success",
        "is_failed": "failed",
        "is_cancelled": "cancelled",
    ]

    /// `env` values and the environment they mean.
    static let environmentByValue: [String: String] = [
        "production": "production",
        "production-sandbox": "sandbox",
        "sandbox": "sandbox",
    ]

    /// Where the environment is, in order (the top level first, then product objects).
    static let environmentPaths: [JSONPath] = ["env", "identity.env", "account.env", "balance.env", "payment.env"]

    /// Where each id lives, in order of preference; the first non-empty string wins.
    static let recordPaths: [JSONPath] = ["record", "recordId", "record_id"]
    static let customerPaths: [JSONPath] = ["customerId", "customer_id", "data.customer", "identity.customer", "payment.customer"]
    static let accountPaths: [JSONPath] = ["accountId", "account_id", "account._id"]
    static let bankPaths: [JSONPath] = ["bankSlug", "auth.bank_details.slug"]

    /// Where the time of the event is, in order; the first valid RFC 3339 timestamp wins.
    static let timePaths: [JSONPath] = ["ended_at", "started_at", "data.disconnected_at", "data.deauthorized_at", "disconnected_at", "deauthorized_at", "event_time"]

    /// A pattern over a code.
    enum CodePattern {
        case exact(String)
        case prefix(String)
        case suffix(String)

        func matches(_ code: String) -> Bool {
            switch self {
            case .exact(let text): return code == text
            case .prefix(let text): return code.hasPrefix(text)
            case .suffix(let text): return code.hasSuffix(text)
            }
        }
    }
}

/// The shapes Okra sends (`okrashape`), each with the test that recognizes it. Tried in order.
public enum OkraShape: String, Sendable, CaseIterable {
    case widgetEvent = "widget-event"
    case userEvent = "user-event"
    case callbackV2 = "callback-v2"
    case callbackV1 = "callback-v1"
    case widgetSuccess = "widget-success"
    case unknown = "unknown"

    /// The shape of a JSON object.
    static func detect(_ payload: JSONElement) -> OkraShape {
        for shape in allCases where shape.matches(payload) { return shape }
        return .unknown
    }

    private func matches(_ p: JSONElement) -> Bool {
        switch self {
        case .widgetEvent:
            // `onEvent` payloads posted to event_callback_url.
            return p["event_name"]?.nonEmptyString != nil || (p["event_type"] != nil && p["event_data"] != nil)
        case .userEvent:
            // {"event": "USER_DISCONNECT" | "USER_REAUTH", "data": {...}}
            if p["data"]?.isObject == true, let event = p["event"]?.nonEmptyString { return event.hasPrefix("USER_") }
            return false
        case .callbackV2:
            if p["type"]?.nonEmptyString?.uppercased() == "CALLBACK" { return true }
            return p["method"]?.nonEmptyString != nil && (p["code"]?.nonEmptyString != nil || p["callback_code"]?.nonEmptyString != nil)
        case .callbackV1:
            return p["callback_type"]?.nonEmptyString != nil && p["callback_code"]?.nonEmptyString != nil
        case .widgetSuccess:
            // The widget's onSuccess metadata: a record plus the bank or accounts it linked.
            if p["auth"]?["bank_details"] != nil { return true }
            return p["record_id"]?.nonEmptyString != nil && (p["accounts"] != nil || p["success"] != nil)
        case .unknown:
            return true
        }
    }

    /// The product every payload of this shape is about, if the shape decides it.
    var fixedProduct: String? {
        switch self {
        case .userEvent: return "user"
        case .widgetEvent, .widgetSuccess: return "widget"
        case .unknown: return "unknown"
        case .callbackV1, .callbackV2: return nil
        }
    }

    /// The outcome every payload of this shape has, if the shape decides it.
    var fixedOutcome: String? {
        switch self {
        case .widgetEvent: return "event"
        case .widgetSuccess: return "success"
        case .unknown: return "unknown"
        case .userEvent, .callbackV1, .callbackV2: return nil
        }
    }
}
